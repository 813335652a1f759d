// Package passcode makes API passcodes and their hashes. It has no Kubernetes imports: the
// controllers store the passcode in a Secret and only the hash anywhere else.
package passcode

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
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
