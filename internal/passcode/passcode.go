// Package passcode makes API passcodes and their hashes. It has no Kubernetes imports: the
// controllers store the passcode in a Secret and only the hash anywhere else.
package passcode

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// Prefix marks a string as one of our passcodes, so that secret scanners and people reading a
// config file can recognise it ("dpc" = dashboard passcode).
const Prefix = "dpc_"

// hashPrefix names the algorithm inside the stored hash, so it can change without ambiguity.
const hashPrefix = "sha256:"

// Generate returns a new passcode: Prefix followed by rand.Text(), 26 base32 characters from
// crypto/rand, i.e. 130 bits of entropy.
func Generate() string {
	return Prefix + rand.Text()
}

// Hash returns "sha256:<hex>" of the passcode.
//
// A fast unsalted hash is right here, unlike for passwords: a passcode carries 130 random bits, so
// there is no dictionary to try and brute force of the preimage is out of reach; slow hashes
// (bcrypt, argon2) only protect low-entropy secrets and would cost the access server a hash per
// request. Being unsalted, the hash doubles as a lookup key for the access server's index.
func Hash(passcode string) string {
	sum := sha256.Sum256([]byte(passcode))
	return hashPrefix + hex.EncodeToString(sum[:])
}

// Matches reports whether passcode hashes to hash, comparing in constant time so that the time
// taken says nothing about how much of the hash matched.
func Matches(passcode, hash string) bool {
	want := Hash(passcode)
	return subtle.ConstantTimeCompare([]byte(want), []byte(hash)) == 1
}

// WellFormed reports whether s could be a passcode Generate made: a cheap check the access server
// runs before hashing untrusted input of arbitrary size.
func WellFormed(s string) bool {
	body, ok := strings.CutPrefix(s, Prefix)
	if !ok || len(body) != 26 {
		return false
	}
	for i := 0; i < len(body); i++ {
		c := body[i]
		if (c < 'A' || c > 'Z') && (c < '2' || c > '7') {
			return false
		}
	}
	return true
}

// An imported passcode (one adopted from before the operator, spec.import) is any string of the
// base64url alphabet long enough to carry 128 bits: 22 characters of 6 bits.
const (
	ImportMinLen = 22
	ImportMaxLen = 256
)

// CheckImport says why s cannot be adopted as a passcode, without quoting it.
func CheckImport(s string) error {
	switch {
	case len(s) < ImportMinLen:
		return fmt.Errorf("it has fewer than %d characters, too few to carry 128 bits", ImportMinLen)
	case len(s) > ImportMaxLen:
		return fmt.Errorf("it has more than %d characters", ImportMaxLen)
	case !base64URL(s):
		return errors.New("it has a character other than A-Z, a-z, 0-9, '-' and '_'")
	}
	return nil
}

// Plausible reports whether s could be a passcode at all, generated (WellFormed) or imported: the
// access server's cheap check before it hashes untrusted input.
func Plausible(s string) bool {
	return len(s) >= ImportMinLen && len(s) <= ImportMaxLen && base64URL(s)
}

func base64URL(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < 'A' || c > 'Z') && (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' && c != '_' {
			return false
		}
	}
	return true
}
