package token

import (
	"bytes"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
)

// MinHMACKeySize is the shortest HS256 key accepted, in bytes: RFC 7518 §3.2 wants a
// key at least as long as the hash output, 256 bits.
const MinHMACKeySize = 32

const keyAdvice = "use 32 random bytes, e.g. `openssl rand -base64 32`"

// CheckHMACKey reports whether key is fit to sign HS256 tokens, with a message an
// operator can act on. The key must be random, never a password or passphrase
// (RFC 8725 §3.5): anyone who can guess it can mint tokens for any user.
//
// The rule, in order:
//   - at least 32 bytes;
//   - at least 12 different byte values, not a short pattern repeated, not a simple
//     sequence such as "abcdef…";
//   - not words: text with spaces between words, or text of letters, punctuation and
//     at most one short number whose letters read as words ("CorrectHorseBattery…",
//     "correct-horse-…", "MySecretKey2024…");
//   - room for 256 random bits in the alphabet the key is written in: 64 hex digits,
//     43 base64 characters, 40 other printable characters, or 32 arbitrary bytes
//     (whitespace does not count).
//
// The output of `openssl rand -base64 32` or `openssl rand -hex 32`, or 32 bytes
// from a cryptographic random source, passes. The checks catch the usual mistakes;
// they cannot prove a key random (the hash of a password passes), so generate keys.
// The key never appears in the error.
func CheckHMACKey(key []byte) error {
	if len(key) < MinHMACKeySize {
		return fmt.Errorf("token: signing key is %d bytes; it needs at least 32 random bytes, e.g. `openssl rand -base64 32`", len(key))
	}
	if n := distinctBytes(key); n < 12 {
		return fmt.Errorf("token: signing key uses only %d different byte values; %s", n, keyAdvice)
	}
	if repeatsPattern(key) {
		return errors.New("token: signing key repeats a short pattern; " + keyAdvice)
	}
	if isSequence(key) {
		return errors.New("token: signing key is a simple sequence; " + keyAdvice)
	}
	if looksLikeWords(key) {
		return errors.New("token: signing key looks like words or a passphrase, which RFC 8725 §3.5 forbids; " + keyAdvice)
	}
	if alphabet, have, need := capacity(key); have < need {
		return fmt.Errorf("token: signing key is %d %s, too few for 256 random bits; it needs at least %d, e.g. `openssl rand -base64 32` or `openssl rand -hex 32`", have, alphabet, need)
	}
	return nil
}

func distinctBytes(key []byte) int {
	var seen [256]bool
	n := 0
	for _, b := range key {
		if !seen[b] {
			seen[b], n = true, n+1
		}
	}
	return n
}

// repeatsPattern reports whether key is a prefix repeated at least twice
// ("abcabcab…"). The longest border of the prefix function gives the smallest
// period in linear time.
func repeatsPattern(key []byte) bool {
	pi := make([]int, len(key))
	for i := 1; i < len(key); i++ {
		k := pi[i-1]
		for k > 0 && key[i] != key[k] {
			k = pi[k-1]
		}
		if key[i] == key[k] {
			k++
		}
		pi[i] = k
	}
	period := len(key) - pi[len(key)-1]
	return period <= len(key)/2
}

// isSequence reports whether one step between neighbouring bytes ("abcd…" has step
// 1, "aaaa…" step 0) makes up more than half of the key.
func isSequence(key []byte) bool {
	var steps [256]int
	for i := 1; i < len(key); i++ {
		s := key[i] - key[i-1]
		steps[s]++
		if 2*steps[s] > len(key)-1 {
			return true
		}
	}
	return false
}

// looksLikeWords reports whether key is text that reads as words. Random keys
// written as base64 or hex almost always hold digits scattered through them and mix
// letter case at random; words hold at most a number ("…Key2024…") and do neither.
// On random base64 keys this misfires about once in a million.
func looksLikeWords(key []byte) bool {
	text := bytes.TrimSpace(key)
	var letters, upper, digitRuns, digits int
	for i, b := range text {
		switch {
		case b == ' ' || b == '\t' || b == '\n' || b == '\r':
			return isText(text) // spaces between words: a phrase
		case b < 0x21 || b > 0x7e:
			return false // raw bytes: not something a person typed
		case '0' <= b && b <= '9':
			digits++
			if i == 0 || text[i-1] < '0' || text[i-1] > '9' {
				digitRuns++
			}
		case 'A' <= b && b <= 'Z':
			letters, upper = letters+1, upper+1
		case 'a' <= b && b <= 'z':
			letters++
		}
	}
	if digitRuns > 1 || digits > 4 || 4*letters < 3*len(text) {
		return false
	}
	// One case throughout (allowing the odd capital), or capitalised words run
	// together: random letters are half upper, half lower, in no order.
	lower := letters - upper
	if 10*max(upper, lower) >= 9*letters {
		return true
	}
	return 5*wordLetters(text) >= 4*letters
}

// isText reports whether key is printable ASCII and whitespace only.
func isText(key []byte) bool {
	for _, b := range key {
		if (b < 0x20 || b > 0x7e) && b != '\t' && b != '\n' && b != '\r' {
			return false
		}
	}
	return true
}

// wordLetters counts the letters of key that sit in word-shaped pieces: an optional
// capital followed by at least two small letters with a vowel among them ("Correct",
// "horse", "Key"). Pieces end at non-letters and where a small letter is followed by
// a capital.
func wordLetters(key []byte) int {
	isUpper := func(b byte) bool { return 'A' <= b && b <= 'Z' }
	isLower := func(b byte) bool { return 'a' <= b && b <= 'z' }
	count := 0
	for i := 0; i < len(key); {
		j := i
		if isUpper(key[j]) {
			j++
		}
		k := j
		for k < len(key) && isLower(key[k]) {
			k++
		}
		if k-j >= 2 && bytes.ContainsAny(key[j:k], "aeiouy") {
			count += k - i
		}
		if k == i {
			k++ // not a letter, or a capital not followed by a word
		}
		i = k
	}
	return count
}

// capacity returns the alphabet key is written in, how many symbols of it key
// has, and how many it takes to hold 256 random bits in that alphabet.
func capacity(key []byte) (alphabet string, have, need int) {
	hex, b64, pad := true, true, 0
	for i, b := range key {
		switch {
		case b == ' ' || b == '\t' || b == '\n' || b == '\r':
			continue // a trailing newline from a file adds nothing
		case b < 0x21 || b > 0x7e:
			return "bytes", len(key), 32 // raw bytes: 8 bits each
		case b == '=' && isPadding(key[i:]):
			hex, pad = false, pad+1 // base64 padding carries no bits
			continue
		}
		have++
		digit := '0' <= b && b <= '9'
		hex = hex && (digit || 'a' <= b && b <= 'f' || 'A' <= b && b <= 'F')
		b64 = b64 && (digit || 'a' <= b && b <= 'z' || 'A' <= b && b <= 'Z' ||
			b == '+' || b == '/' || b == '-' || b == '_')
	}
	switch {
	case hex:
		return "hex digits", have, 64 // 4 bits each
	case b64:
		return "base64 characters", have, 43 // 6 bits each
	}
	return "printable characters", have + pad, 40 // log2(94) ≈ 6.55 bits each
}

// isPadding reports whether rest is base64 padding: '=' signs and then whitespace.
func isPadding(rest []byte) bool {
	rest = bytes.TrimRight(rest, " \t\r\n")
	return len(rest) <= 2 && len(bytes.Trim(rest, "=")) == 0
}

// LoadEd25519Key reads an Ed25519 private key from PEM: a PKCS #8 "PRIVATE KEY"
// block, as written by `openssl genpkey -algorithm ed25519`. Encrypted keys are not
// supported.
func LoadEd25519Key(pemBytes []byte) (ed25519.PrivateKey, error) {
	block, rest := pem.Decode(pemBytes)
	switch {
	case block == nil:
		return nil, errors.New("token: Ed25519 key: no PEM block found")
	case len(bytes.TrimSpace(rest)) > 0:
		return nil, errors.New("token: Ed25519 key: more than one PEM block or trailing data")
	case block.Type == "ENCRYPTED PRIVATE KEY":
		return nil, errors.New("token: Ed25519 key: encrypted keys are not supported")
	case block.Type != "PRIVATE KEY":
		return nil, fmt.Errorf("token: Ed25519 key: PEM block is %q, want \"PRIVATE KEY\" (PKCS #8, e.g. `openssl genpkey -algorithm ed25519`)", block.Type)
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("token: Ed25519 key: %w", err)
	}
	priv, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("token: Ed25519 key: the PEM holds a %T, not an Ed25519 key", k)
	}
	return checkEd25519Key(priv)
}

// checkEd25519Key returns a copy of k after checking that its public half belongs
// to its seed; a mismatched key would sign tokens that no one can verify.
func checkEd25519Key(k ed25519.PrivateKey) (ed25519.PrivateKey, error) {
	if len(k) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("token: Ed25519 key is %d bytes, want %d", len(k), ed25519.PrivateKeySize)
	}
	fresh := ed25519.NewKeyFromSeed(k.Seed())
	if !fresh.Equal(k) {
		return nil, errors.New("token: Ed25519 key: public part does not match the private part")
	}
	return fresh, nil
}
