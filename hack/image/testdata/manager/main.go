// Command manager stands in for the manager in hack/image's tests: a small program built with the
// Makefile's GO_BUILD (the real one takes minutes to compile with -trimpath on a cold cache),
// with the same version variable.
package main

import "fmt"

var version = "unset"

func main() { fmt.Println(version) }
