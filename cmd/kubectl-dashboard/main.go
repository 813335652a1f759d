// Command kubectl-dashboard is the kubectl plugin for the imperative actions of the users page
// (`kubectl dashboard invite`, `users`, `passcode`). This version only prints its usage: the
// commands arrive with the plugin issue.
package main

import (
	"fmt"
	"io"
	"os"
)

const usage = `kubectl dashboard: manage dashboard users and passcodes

Usage:
  kubectl dashboard invite --role ROLE EMAIL...      invite up to 50 users
  kubectl dashboard users list|export|set-role|revoke|grant|resend-invite
  kubectl dashboard passcode grant|reset|revoke|status

These commands are not implemented in this version; until then use kubectl with the
DashboardUser and Passcode resources (kubectl explain dashboardusers.spec).
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run prints the usage; it succeeds only for an explicit request for help.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 1 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
		_, _ = fmt.Fprint(stdout, usage)
		return 0
	}
	_, _ = fmt.Fprint(stderr, usage)
	return 1
}
