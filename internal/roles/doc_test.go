package roles

import (
	"os"
	"strings"
	"testing"
)

// docs/roles.md is what users and gateway authors read: its tables must say what this package does.
func TestDocsListTheVocabularyAndSystemRoles(t *testing.T) {
	b, err := os.ReadFile("../../docs/roles.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	for _, p := range Vocabulary {
		if row := "| `" + string(p.Name) + "` | " + p.Description + " |"; !strings.Contains(doc, row) {
			t.Errorf("docs/roles.md lacks the row %q", row)
		}
	}
	if n := strings.Count(doc, "\n| `") - len(SystemNames); n != len(Vocabulary) {
		t.Errorf("docs/roles.md has %d permission rows, the vocabulary %d", n, len(Vocabulary))
	}
	for _, name := range SystemNames {
		perms, _ := System(name)
		cell := "`" + strings.Join(strs(perms), "`, `") + "`"
		if name == Admin {
			cell = "every permission"
		}
		if row := "| `" + name + "` | " + cell + " |"; !strings.Contains(doc, row) {
			t.Errorf("docs/roles.md lacks the row %q", row)
		}
	}
}
