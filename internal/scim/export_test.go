package scim

import "github.com/dashboardops/access-operator/internal/users"

// ObjectNameForTest is the id SCIM gives the user with email.
func ObjectNameForTest(email string) string { return users.ObjectNameForEmail(email) }
