package plugin

import "regexp"

// dns1123Label is Kubernetes' rule for a label (and so for most object names).
var dns1123Label = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)
