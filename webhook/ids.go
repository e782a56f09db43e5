package webhook

import (
	"crypto/rand"
	"encoding/base32"
	"encoding/binary"
	"time"
)

// idEncoding is Crockford-like lower-case base32 without padding: ids sort
// by time as strings and read unambiguously in a terminal.
var idEncoding = base32.NewEncoding("0123456789abcdefghjkmnpqrstvwxyz").WithPadding(base32.NoPadding)

// NewDecisionID returns a 26-character id: 48 bits of Unix milliseconds then
// 80 random bits, so ids sort by creation time and never collide in practice.
func NewDecisionID() string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(time.Now().UnixMilli())<<16)
	_, _ = rand.Read(b[6:])
	return idEncoding.EncodeToString(b[:])
}
