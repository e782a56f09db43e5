package auth

import (
	"context"
	"crypto/subtle"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// TokenFile authenticates static bearer tokens read from a file in the
// kube-apiserver's --token-auth-file format: one
// token,user,uid,"group1,group2" line per token (groups optional).
type TokenFile struct {
	tokens []tokenEntry
}

type tokenEntry struct {
	token string
	user  User
}

var _ Authenticator = (*TokenFile)(nil)

// LoadTokenFile reads a token file. Errors name the file and line.
func LoadTokenFile(path string) (*TokenFile, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("reading token file: %w", err)
	}
	defer f.Close()
	return ParseTokenFile(path, f)
}

// ParseTokenFile reads the token file format from r; name is used in errors.
func ParseTokenFile(name string, r io.Reader) (*TokenFile, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	cr.TrimLeadingSpace = true
	cr.Comment = '#'
	tf := &TokenFile{}
	seen := map[string]bool{}
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		line, _ := cr.FieldPos(0)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		if len(rec) < 3 {
			return nil, fmt.Errorf("%s:%d: want token,user,uid[,\"group1,group2\"], got %d fields", name, line, len(rec))
		}
		if rec[0] == "" || rec[1] == "" {
			return nil, fmt.Errorf("%s:%d: token and user must not be empty", name, line)
		}
		if seen[rec[0]] {
			return nil, fmt.Errorf("%s:%d: token repeated", name, line)
		}
		seen[rec[0]] = true
		u := User{Name: rec[1], UID: rec[2]}
		if len(rec) > 3 && rec[3] != "" {
			for _, g := range strings.Split(rec[3], ",") {
				if g = strings.TrimSpace(g); g != "" {
					u.Groups = append(u.Groups, g)
				}
			}
		}
		tf.tokens = append(tf.tokens, tokenEntry{token: rec[0], user: u})
	}
	return tf, nil
}

// Authenticate finds the token, comparing in constant time so the answer's
// timing says nothing about how much of a guess was right.
func (tf *TokenFile) Authenticate(_ context.Context, token string) (*User, error) {
	if token == "" {
		return nil, fmt.Errorf("%w: no bearer token", ErrUnauthenticated)
	}
	var found *User
	for i := range tf.tokens {
		if subtle.ConstantTimeCompare([]byte(tf.tokens[i].token), []byte(token)) == 1 {
			found = &tf.tokens[i].user
		}
	}
	if found == nil {
		return nil, fmt.Errorf("%w: unknown token", ErrUnauthenticated)
	}
	u := *found
	u.Groups = append([]string{"system:authenticated"}, u.Groups...)
	return &u, nil
}
