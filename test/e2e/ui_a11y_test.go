package e2e

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// a11yProblemsJS lists, from the live DOM, what a screen reader or a keyboard user would miss:
// a form field without an accessible label (label, aria-label or aria-labelledby naming an
// element with text), a button without a name, an image without alt, no <html lang>, not exactly
// one <h1>, a table header without scope, a sort header that is not a button or lacks aria-sort.
const a11yProblemsJS = `(() => {
  const problems = [];
  const named = el => (el.getAttribute("aria-label") || "").trim() !== "" ||
    (el.getAttribute("aria-labelledby") || "").split(/\s+/).some(id => id && document.getElementById(id) && document.getElementById(id).textContent.trim() !== "");
  const what = el => el.outerHTML.slice(0, 120);
  if (!(document.documentElement.getAttribute("lang") || "").trim()) problems.push("<html> has no lang");
  const h1 = document.querySelectorAll("h1").length;
  if (h1 !== 1) problems.push(h1 + " <h1> elements, want 1");
  for (const el of document.querySelectorAll("input:not([type=hidden]), select, textarea")) {
    const labelled = Array.from(el.labels || []).some(l => l.textContent.trim() !== "");
    if (!labelled && !named(el)) problems.push("no accessible label: " + what(el));
  }
  for (const el of document.querySelectorAll("button, a[href]")) {
    if (el.textContent.trim() === "" && !named(el)) problems.push("no accessible name: " + what(el));
  }
  for (const el of document.querySelectorAll("img")) {
    if (!el.hasAttribute("alt")) problems.push("image without alt: " + what(el));
  }
  for (const th of document.querySelectorAll("th")) {
    if (!th.getAttribute("scope")) problems.push("th without scope: " + what(th));
  }
  for (const th of document.querySelectorAll("th[data-key]")) {
    if (!th.querySelector("button")) problems.push("sort header is not a button: " + what(th));
    if (!["ascending", "descending", "none"].includes(th.getAttribute("aria-sort"))) problems.push("sort header without aria-sort: " + what(th));
  }
  for (const d of document.querySelectorAll("dialog")) {
    if (!named(d)) problems.push("dialog without a name: " + what(d));
  }
  return problems;
})()`

// focusedJS describes the focused element (its accessible name, else its id or tag) and whether
// its focus is visible: a computed outline or box-shadow.
const focusedJS = `(() => {
  const el = document.activeElement;
  if (!el || el === document.body) return {name: "", visible: false, tag: "body"};
  const s = getComputedStyle(el);
  const outline = s.outlineStyle !== "none" && parseFloat(s.outlineWidth) > 0;
  const name = el.getAttribute("aria-label") || (el.labels && el.labels[0] ? el.labels[0].textContent.trim() : "") || el.textContent.trim() || el.id;
  return {name: name, visible: outline || s.boxShadow !== "none", tag: el.tagName.toLowerCase()};
})()`

type focused struct {
	Name    string `json:"name"`
	Visible bool   `json:"visible"`
	Tag     string `json:"tag"`
}

// a11yProblems runs a11yProblemsJS on the open page.
func a11yProblems(t *testing.T, bctx context.Context) []string {
	t.Helper()
	problems, err := chromedp.Run(bctx, chromedp.Evaluate[[]string](a11yProblemsJS))
	if err != nil {
		t.Fatalf("checking accessibility: %v", err)
	}
	return problems
}

// tabOrder tabs through the open page from its start and returns the focused elements in order,
// failing on any whose focus is not visible.
func tabOrder(t *testing.T, bctx context.Context) []string {
	t.Helper()
	do(t, bctx, "focus to the start", chromedp.Evaluate[chromedp.Void](`document.activeElement && document.activeElement.blur(), window.scrollTo(0, 0)`))
	var order []string
	for range 80 {
		do(t, bctx, "Tab", chromedp.KeyEvent(kb.Tab))
		f, err := chromedp.Run(bctx, chromedp.Evaluate[focused](focusedJS))
		if err != nil {
			t.Fatal(err)
		}
		if f.Tag == "body" || (len(order) > 0 && f.Name == order[0]) {
			break // back at the start
		}
		if !f.Visible {
			t.Errorf("focus is not visible on %s %q", f.Tag, f.Name)
		}
		order = append(order, f.Name)
	}
	return order
}

// inOrder fails unless each of want is in got, in this order.
func inOrder(t *testing.T, got []string, want ...string) {
	t.Helper()
	last := -1
	for _, w := range want {
		i := slices.Index(got, w)
		if i < 0 {
			t.Errorf("Tab never reaches %q; it reaches %q", w, got)
			return
		}
		if i < last {
			t.Errorf("Tab reaches %q before %q; the order is %q", w, want[slices.Index(want, w)-1], got)
		}
		last = i
	}
}

// noHorizontalScroll fails when the document is wider than the window at width px.
func noHorizontalScroll(t *testing.T, bctx context.Context, width int64, page string) {
	t.Helper()
	do(t, bctx, "viewport", chromedp.EmulateViewport(width, 900), chromedp.Sleep(200*time.Millisecond))
	wide, err := chromedp.Run(bctx, chromedp.Evaluate[bool](`document.documentElement.scrollWidth > document.documentElement.clientWidth || document.body.scrollWidth > document.body.clientWidth`))
	if err != nil {
		t.Fatal(err)
	}
	if wide {
		t.Errorf("%s scrolls sideways at %d px", page, width)
	}
	do(t, bctx, "viewport back", chromedp.EmulateViewport(1280, 900))
}

// keyboardAndAccessibility checks the users table, a user's page and + User: labels and names
// in the DOM, the Tab order and visible focus, a confirmation dialog opened and closed from the
// keyboard (Escape, then Cancel), and no sideways scroll at 1280 and 420 px.
func keyboardAndAccessibility(t *testing.T, bctx context.Context, base, invited string) {
	t.Helper()
	do(t, bctx, "the table", chromedp.Navigate(base+"/?ns=default"), chromedp.WaitVisible(chromedp.ID("users")))
	if p := a11yProblems(t, bctx); len(p) > 0 {
		t.Errorf("the users table:\n  %s", strings.Join(p, "\n  "))
	}
	// The checks see a missing label: take one away and they must say so.
	do(t, bctx, "removing a label", chromedp.Evaluate[chromedp.Void](`document.querySelector("label[for=q]").remove()`))
	if p := a11yProblems(t, bctx); len(p) != 1 || !strings.Contains(p[0], `id="q"`) {
		t.Errorf("with the search box's label removed the checks say %q", p)
	}

	do(t, bctx, "the table", chromedp.Navigate(base+"/?ns=default"), chromedp.WaitVisible(chromedp.ID("users")))
	order := tabOrder(t, bctx)
	t.Logf("the users table's Tab order: %q", order)
	inOrder(t, order, "Skip to content", "Project", "Search", "+ User", "Download Users",
		"Name", "Role", "Email", "User Status", "Last Login", "Passcode-Status",
		"Manage ana@example.com", "Role of ana@example.com", "Save the role of ana@example.com",
		"Manage "+invited, "Role of "+invited, "Save the role of "+invited, "Resend invite to "+invited,
		"Manage cid@example.com", "Save the role of cid@example.com", "Manage dee@example.com", "Save the role of dee@example.com")

	// The confirmation dialog, from the keyboard: Enter opens it with focus inside, Escape closes
	// it and focus goes back to its button; Cancel closes it too.
	resend := `[aria-label="Resend invite to ` + invited + `"]`
	dialogOpen := `(() => { const d = document.getElementById(document.querySelector('` + resend + `').getAttribute("commandfor")); ` +
		`return d.open && d.contains(document.activeElement); })()`
	do(t, bctx, "focusing Resend invite", chromedp.Focus(chromedp.CSS(resend)), chromedp.KeyEvent(kb.Enter), chromedp.Sleep(100*time.Millisecond))
	if open, _ := chromedp.Run(bctx, chromedp.Evaluate[bool](dialogOpen)); !open {
		t.Fatal("Enter on Resend invite does not open its dialog with focus inside")
	}
	if p := a11yProblems(t, bctx); len(p) > 0 {
		t.Errorf("with the dialog open:\n  %s", strings.Join(p, "\n  "))
	}
	do(t, bctx, "Escape", chromedp.KeyEvent(kb.Escape), chromedp.Sleep(100*time.Millisecond))
	back, _ := chromedp.Run(bctx, chromedp.Evaluate[bool](`!document.querySelector("dialog[open]") && document.activeElement.matches('`+resend+`')`))
	if !back {
		t.Error("Escape does not close the dialog and give focus back to its button")
	}
	do(t, bctx, "opening again", chromedp.KeyEvent(kb.Enter), chromedp.Sleep(100*time.Millisecond))
	for range 5 { // to Cancel: the box, Send invite, Cancel
		f, _ := chromedp.Run(bctx, chromedp.Evaluate[focused](focusedJS))
		if f.Name == "Cancel" {
			break
		}
		do(t, bctx, "Tab in the dialog", chromedp.KeyEvent(kb.Tab))
	}
	do(t, bctx, "Cancel", chromedp.KeyEvent(kb.Enter), chromedp.Sleep(100*time.Millisecond))
	if closed, _ := chromedp.Run(bctx, chromedp.Evaluate[bool](`!document.querySelector("dialog[open]")`)); !closed {
		t.Error("Cancel does not close the dialog")
	}

	noHorizontalScroll(t, bctx, 1280, "the users table")
	noHorizontalScroll(t, bctx, 420, "the users table")

	// A user's page: every form's fields, its confirmation box and its button, form after form.
	pages := map[string][]string{
		userPage(base, invited): {"← All users", "Role", "Save role", "Yes, revoke the access of " + invited, "Revoke access",
			"Yes, send " + invited + " a new invite", "Resend invite", "Tenure (e.g. 30d, 12h, 45m)", "Rotation", "Grant passcode"},
		base + "/invite?ns=default": {"Email of row 1", "Role of row 1", "Email of row 5", "Role of row 5", "Show 50 rows", "Invite"},
	}
	for page, want := range pages {
		do(t, bctx, "opening "+page, chromedp.Navigate(page), chromedp.WaitVisible(chromedp.CSS("main")))
		if p := a11yProblems(t, bctx); len(p) > 0 {
			t.Errorf("%s:\n  %s", page, strings.Join(p, "\n  "))
		}
		inOrder(t, tabOrder(t, bctx), want...)
		noHorizontalScroll(t, bctx, 1280, page)
		noHorizontalScroll(t, bctx, 420, page)
	}
}
