package notify

import (
	"strings"
	"testing"
	"time"
)

func TestRenderEmail(t *testing.T) {
	inv := testInvite()
	subject, text, htmlBody, err := renderEmail(inv)
	if err != nil {
		t.Fatal(err)
	}
	if subject != "You are invited to default as Member" {
		t.Errorf("subject = %q", subject)
	}
	const expiry = "Friday, 1 May 2026, 12:30 UTC"
	for name, body := range map[string]string{"text": text, "html": htmlBody} {
		for _, want := range []string{"default", "Member", inv.AcceptURL, expiry, "Hello Jane Doe,"} {
			if !strings.Contains(body, want) {
				t.Errorf("%s part lacks %q:\n%s", name, want, body)
			}
		}
	}
	if !strings.Contains(htmlBody, `<a href="`+inv.AcceptURL+`">`) {
		t.Errorf("html part has no link to the accept URL:\n%s", htmlBody)
	}
	if strings.Contains(text, "<") {
		t.Errorf("text part contains markup:\n%s", text)
	}
}

func TestRenderEmailExpiryIsUTC(t *testing.T) {
	inv := testInvite()
	inv.ExpiresAt = inv.ExpiresAt.In(fixedZone(t))
	_, text, _, err := renderEmail(inv)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(text, "12:30 UTC") {
		t.Errorf("expiry not shown in UTC:\n%s", text)
	}
}

func TestRenderEmailWithoutDisplayName(t *testing.T) {
	inv := testInvite()
	inv.DisplayName = ""
	_, text, htmlBody, err := renderEmail(inv)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(text, "Hello,\n") || !strings.Contains(htmlBody, "<p>Hello,</p>") {
		t.Errorf("greeting without a name is wrong:\n%s\n%s", text, htmlBody)
	}
}

func TestRenderEmailEscapesHTML(t *testing.T) {
	inv := testInvite()
	inv.DisplayName = `<script>alert("name")</script>`
	inv.Project = `<script>alert('project')</script>`
	inv.Role = `<b onmouseover=x>Admin</b>`
	inv.AcceptURL = `https://dash.example.com/invitations/` + testToken + `?a=1&b="><script>x</script>`
	subject, text, htmlBody, err := renderEmail(inv)
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"<script", "<b onmouseover", `b="`} {
		if strings.Contains(htmlBody, bad) {
			t.Errorf("html part contains unescaped %q:\n%s", bad, htmlBody)
		}
	}
	for _, want := range []string{"&lt;script&gt;alert(&#34;name&#34;)&lt;/script&gt;", "&lt;script&gt;alert(&#39;project&#39;)&lt;/script&gt;"} {
		if !strings.Contains(htmlBody, want) {
			t.Errorf("html part lacks escaped %q:\n%s", want, htmlBody)
		}
	}
	// The link stays a working link: html/template percent-encodes what cannot be in an attribute.
	if !strings.Contains(htmlBody, `<a href="https://dash.example.com/invitations/`+testToken+`?a=1&amp;b=%22%3e%3cscript%3ex%3c/script%3e">`) {
		t.Errorf("href not escaped as a URL attribute:\n%s", htmlBody)
	}
	// The plain-text part and the subject are not HTML; they carry the text as it is.
	if !strings.Contains(text, inv.Project) || !strings.Contains(subject, inv.Project) {
		t.Errorf("text part or subject altered the project name: %q\n%s", subject, text)
	}
}

func fixedZone(t *testing.T) *time.Location {
	t.Helper()
	return time.FixedZone("UTC+5", 5*60*60)
}
