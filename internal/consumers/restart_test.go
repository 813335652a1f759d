package consumers

import (
	"testing"
	"time"
)

func TestValueIsTheIssueTimeAndDiffersPerRevision(t *testing.T) {
	issued := time.Date(2026, 1, 2, 15, 4, 5, 0, time.FixedZone("CET", 3600))
	if got := Value(issued, 3); got != "2026-01-02T14:04:05.000000003Z" {
		t.Errorf("Value = %s", got)
	}
	if Value(issued, 3) != Value(issued.Add(400*time.Millisecond), 3) {
		t.Error("the value must be the same on every retry of one revision (status times have second precision)")
	}
	if Value(issued, 3) == Value(issued, 4) {
		t.Error("two revisions issued in the same second must restart twice")
	}
	if _, err := time.Parse(time.RFC3339, Value(issued, 12)); err != nil {
		t.Errorf("not RFC 3339: %v", err)
	}
}
