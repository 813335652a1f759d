package notify

import (
	"fmt"
	htmltemplate "html/template"
	"io"
	"strings"
	texttemplate "text/template"
)

// expiryLayout is spelled out with the zone, since invitees read it in every time zone.
const expiryLayout = "Monday, 2 January 2006, 15:04 MST"

// emailData is what both templates see.
type emailData struct {
	Greeting  string
	Project   string
	Role      string
	AcceptURL string
	Expiry    string
}

var emailText = texttemplate.Must(texttemplate.New("text").Parse(`{{.Greeting}}

You have been invited to the dashboard project "{{.Project}}" with the role {{.Role}}.

To accept the invitation, open this link:

{{.AcceptURL}}

The link works once and expires on {{.Expiry}}.
If you did not expect this invitation, you can ignore this email.
`))

// emailHTML is html/template, not text/template: DisplayName and Project come from users, and the
// link must land in href escaped for an attribute.
var emailHTML = htmltemplate.Must(htmltemplate.New("html").Parse(`<!DOCTYPE html>
<html>
<head><meta charset="utf-8"><title>Invitation to {{.Project}}</title></head>
<body>
<p>{{.Greeting}}</p>
<p>You have been invited to the dashboard project <strong>{{.Project}}</strong> with the role <strong>{{.Role}}</strong>.</p>
<p><a href="{{.AcceptURL}}">Accept the invitation</a></p>
<p>If the button does not work, copy this link into your browser:<br>{{.AcceptURL}}</p>
<p>The link works once and expires on {{.Expiry}}.<br>If you did not expect this invitation, you can ignore this email.</p>
</body>
</html>
`))

// renderEmail builds the subject and both bodies of an invite email. It is pure, so the content is
// tested without a mail server.
func renderEmail(inv Invite) (subject, text, htmlBody string, err error) {
	d := emailData{
		Greeting:  greeting(inv.DisplayName),
		Project:   inv.Project,
		Role:      inv.Role,
		AcceptURL: inv.AcceptURL,
		Expiry:    inv.ExpiresAt.UTC().Format(expiryLayout),
	}
	if text, htmlBody, err = bodies(emailText, emailHTML, d); err != nil {
		return "", "", "", err
	}
	return fmt.Sprintf("You are invited to %s as %s", inv.Project, inv.Role), text, htmlBody, nil
}

// eventEmailData is what the lifecycle email templates see.
type eventEmailData struct {
	Greeting string
	Project  string
	Passcode string // the Passcode object's name, never the passcode
	Revision int64
	Expiry   string
	Expired  bool
}

var eventEmailText = texttemplate.Must(texttemplate.New("text").Parse(`{{.Greeting}}

{{if .Expired}}Your passcode "{{.Passcode}}" (revision {{.Revision}}) for the dashboard project "{{.Project}}" expired on {{.Expiry}}. It no longer works.

Ask an administrator of the project to reset it if you still need it.
{{else}}Your passcode "{{.Passcode}}" (revision {{.Revision}}) for the dashboard project "{{.Project}}" expires on {{.Expiry}}.

Ask an administrator of the project to reset it before then if you still need it.
{{end}}
This is an automatic message; the passcode itself is never sent by email.
`))

var eventEmailHTML = htmltemplate.Must(htmltemplate.New("html").Parse(`<!DOCTYPE html>
<html>
<head><meta charset="utf-8"><title>Passcode for {{.Project}}</title></head>
<body>
<p>{{.Greeting}}</p>
{{if .Expired}}<p>Your passcode <strong>{{.Passcode}}</strong> (revision {{.Revision}}) for the dashboard project
<strong>{{.Project}}</strong> expired on {{.Expiry}}. It no longer works.</p>
<p>Ask an administrator of the project to reset it if you still need it.</p>
{{else}}<p>Your passcode <strong>{{.Passcode}}</strong> (revision {{.Revision}}) for the dashboard project
<strong>{{.Project}}</strong> expires on {{.Expiry}}.</p>
<p>Ask an administrator of the project to reset it before then if you still need it.</p>
{{end}}<p>This is an automatic message; the passcode itself is never sent by email.</p>
</body>
</html>
`))

// renderEventEmail builds the subject and both bodies of a passcode.expiring or passcode.expired
// email. Like renderEmail it is pure.
func renderEventEmail(ev Event) (subject, text, htmlBody string, err error) {
	d := eventEmailData{
		Greeting: greeting(ev.DisplayName),
		Project:  ev.Account,
		Passcode: ev.PasscodeName,
		Revision: ev.Revision,
		Expiry:   ev.ExpiresAt.UTC().Format(expiryLayout),
		Expired:  ev.Type == EventPasscodeExpired,
	}
	if text, htmlBody, err = bodies(eventEmailText, eventEmailHTML, d); err != nil {
		return "", "", "", err
	}
	subject = fmt.Sprintf("Your passcode %s for %s expires on %s", ev.PasscodeName, ev.Account, d.Expiry)
	if d.Expired {
		subject = fmt.Sprintf("Your passcode %s for %s has expired", ev.PasscodeName, ev.Account)
	}
	return subject, text, htmlBody, nil
}

func greeting(displayName string) string {
	if displayName == "" {
		return "Hello,"
	}
	return "Hello " + displayName + ","
}

// executor is a text/template or an html/template.
type executor interface {
	Execute(w io.Writer, data any) error
}

// bodies renders an email's plain-text and HTML parts from the same data.
func bodies(text, html executor, d any) (string, string, error) {
	var t, h strings.Builder
	if err := text.Execute(&t, d); err != nil {
		return "", "", fmt.Errorf("render text: %w", err)
	}
	if err := html.Execute(&h, d); err != nil {
		return "", "", fmt.Errorf("render html: %w", err)
	}
	return t.String(), h.String(), nil
}
