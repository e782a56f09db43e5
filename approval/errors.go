package approval

import "fmt"

// Refusal is an error with a message for people and a sentinel (ErrNotFound,
// ErrSelfApproval, …) that errors.Is finds. Its text is the message alone.
type Refusal struct {
	Err error
	Msg string
}

func (e *Refusal) Error() string { return e.Msg }

// Unwrap is the sentinel.
func (e *Refusal) Unwrap() error { return e.Err }

func refusal(sentinel error, format string, args ...any) error {
	return &Refusal{Err: sentinel, Msg: fmt.Sprintf(format, args...)}
}
