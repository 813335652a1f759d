// Package docs holds the documentation to what the repository has: every make target, file path
// and relative link the docs mention exists, and every command of their shell snippets can be run.
package docs

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/dashboardops/access-operator/internal/testenv"
)

// pages are the Markdown files users read.
func pages(t *testing.T, root string) []string {
	t.Helper()
	out := []string{filepath.Join(root, "README.md")}
	for _, pattern := range []string{"docs/*.md", "config/*/README.md", "config/README.md"} {
		m, err := filepath.Glob(filepath.Join(root, pattern))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, m...)
	}
	if len(out) < 10 {
		t.Fatalf("found only %d pages", len(out))
	}
	return out
}

func read(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path) //nolint:gosec // the repository's own files
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func root(t *testing.T) string {
	t.Helper()
	r, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	return r
}

var (
	makeTarget = regexp.MustCompile("^([a-zA-Z][a-zA-Z0-9_-]*):")
	makeUse    = regexp.MustCompile(`\bmake ([a-z][a-z0-9-]*)`)
)

func TestEveryMakeTargetTheDocsNameExists(t *testing.T) {
	r := root(t)
	targets := map[string]bool{}
	for _, line := range strings.Split(read(t, filepath.Join(r, "Makefile")), "\n") {
		if m := makeTarget.FindStringSubmatch(line); m != nil {
			targets[m[1]] = true
		}
	}
	seen := 0
	for _, page := range pages(t, r) {
		text := read(t, page)
		code := strings.Join(shellBlocks(text), "\n")
		for _, m := range codeSpan.FindAllStringSubmatch(text, -1) {
			code += "\n" + m[1]
		}
		for _, m := range makeUse.FindAllStringSubmatch(code, -1) {
			seen++
			if !targets[m[1]] {
				t.Errorf("%s names `make %s`, which the Makefile does not have", rel(r, page), m[1])
			}
		}
	}
	if seen < 5 {
		t.Fatalf("only %d make commands found: the pattern is broken", seen)
	}
}

// repoPath is a code span that names a file or folder of the repository.
var (
	codeSpan = regexp.MustCompile("`([^`\n]+)`")
	topDirs  = []string{"api/", "cmd/", "config/", "controllers/", "docs/", "hack/", "internal/", "plugins/", "test/"}
	mdLink   = regexp.MustCompile(`\]\(([^)\s]+)\)`)
)

func looksLikePath(s string) bool {
	if strings.ContainsAny(s, " <>*{}$=") || strings.Contains(s, "...") {
		return false // a placeholder, a pattern or a command
	}
	for _, d := range topDirs {
		if strings.HasPrefix(s, d) {
			return true
		}
	}
	return slices.Contains([]string{"Makefile", "Dockerfile", "PROJECT", "go.mod", "main.go", "README.md"}, s)
}

func TestEveryFileAndLinkTheDocsNameExists(t *testing.T) {
	r := root(t)
	seen := 0
	for _, page := range pages(t, r) {
		text := read(t, page)
		for _, m := range codeSpan.FindAllStringSubmatch(text, -1) {
			p, _, _ := strings.Cut(m[1], ":") // file.go:123 or path:line
			if !looksLikePath(p) {
				continue
			}
			seen++
			if _, err := os.Stat(filepath.Join(r, p)); err != nil {
				t.Errorf("%s names `%s`, which does not exist", rel(r, page), m[1])
			}
		}
		for _, m := range mdLink.FindAllStringSubmatch(text, -1) {
			target, _, _ := strings.Cut(m[1], "#")
			if target == "" || strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
				if strings.Contains(target, "://") {
					t.Errorf("%s links outside the repository: %s (the repository stands on its own)", rel(r, page), m[1])
				}
				continue
			}
			seen++
			resolved := filepath.Join(filepath.Dir(page), target)
			if p := rel(r, resolved); p == ".." || strings.HasPrefix(p, "../") {
				t.Errorf("%s links to %s, outside the repository (a clone has nothing there)", rel(r, page), m[1])
			} else if _, err := os.Stat(resolved); err != nil {
				t.Errorf("%s links to %s, which does not exist", rel(r, page), m[1])
			}
		}
	}
	if seen < 30 {
		t.Fatalf("only %d paths and links found: the patterns are broken", seen)
	}
}

// knownCommands are what the snippets may run besides what is on PATH here: kubectl (built into
// bin/k8s by hack/control-plane.sh), helm (bin/helm, hack/helm.sh) and the plugin it finds on PATH.
var knownCommands = []string{"kubectl", "helm", "export", "cd", "echo", "printf", "make", "go"}

func TestEveryShellSnippetCommandExists(t *testing.T) {
	r := root(t)
	seen := 0
	for _, page := range pages(t, r) {
		for _, block := range shellBlocks(read(t, page)) {
			for _, cmd := range commandNames(block) {
				seen++
				if slices.Contains(knownCommands, cmd) {
					continue
				}
				if strings.Contains(cmd, "/") {
					if _, err := os.Stat(filepath.Join(r, cmd)); err != nil {
						t.Errorf("%s runs %s, which the repository does not have", rel(r, page), cmd)
					}
					continue
				}
				if _, err := exec.LookPath(cmd); err != nil {
					t.Errorf("%s runs %q, which is not a command here", rel(r, page), cmd)
				}
			}
		}
	}
	if seen < 10 {
		t.Fatalf("only %d commands found: the parser is broken", seen)
	}
}

// shellBlocks are the contents of ```sh / ```bash / ```shell fences.
func shellBlocks(text string) []string {
	var out []string
	var cur *strings.Builder
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		line := sc.Text()
		trimmed := strings.TrimSpace(line)
		switch {
		case cur == nil && strings.HasPrefix(trimmed, "```"):
			if lang := strings.TrimPrefix(trimmed, "```"); lang == "sh" || lang == "bash" || lang == "shell" {
				cur = &strings.Builder{}
			} else {
				// Not a shell block: skip to its end.
				for sc.Scan() && !strings.HasPrefix(strings.TrimSpace(sc.Text()), "```") { //nolint:revive // nothing to do per line
				}
			}
		case cur != nil && strings.HasPrefix(trimmed, "```"):
			out = append(out, cur.String())
			cur = nil
		case cur != nil:
			cur.WriteString(line + "\n")
		}
	}
	return out
}

var (
	assignment = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*=`)
	hereDoc    = regexp.MustCompile(`<<-?\s*['"]?([A-Za-z_]+)['"]?`)
)

// commandNames are the commands a snippet runs: the first word of each pipeline stage, of each
// command substitution, and after an assignment.
func commandNames(block string) []string {
	var out []string
	block = strings.ReplaceAll(block, "\\\n", " ")
	prompted := strings.HasPrefix(block, "$ ") || strings.Contains(block, "\n$ ") // then other lines are output
	heredoc := ""
	for _, line := range strings.Split(block, "\n") {
		if heredoc != "" { // the body of a here-document is input, not commands
			if strings.TrimSpace(line) == heredoc {
				heredoc = ""
			}
			continue
		}
		if m := hereDoc.FindStringSubmatch(line); m != nil {
			heredoc = m[1]
		}
		if prompted && !strings.HasPrefix(strings.TrimSpace(line), "$ ") {
			continue
		}
		line = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(line), "$ "))
		if strings.HasPrefix(line, "{") || strings.HasPrefix(line, "[") {
			continue // output shown after a command
		}
		if i := strings.Index(line, " #"); i >= 0 {
			line = line[:i]
		}
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		line = strings.ReplaceAll(line, "$(", ";")
		for _, stage := range regexp.MustCompile(`\|\||&&|\||;|\)`).Split(line, -1) {
			words := strings.Fields(stage)
			for len(words) > 0 && assignment.MatchString(words[0]) {
				words = words[1:] // VAR=value cmd
			}
			if len(words) == 0 {
				continue
			}
			w := strings.Trim(words[0], `"'`)
			if w == "" || strings.HasPrefix(w, "-") || strings.HasPrefix(w, "$") || strings.HasPrefix(w, "<") {
				continue
			}
			out = append(out, w)
		}
	}
	return out
}

func rel(root, path string) string {
	r, err := filepath.Rel(root, path)
	if err != nil {
		return path
	}
	return r
}
