package config

import (
	"cmp"
	"slices"
	"strconv"
	"strings"
)

// Error is one problem in a config file. Loading fills File and Line;
// Validate alone knows only Path. It reads "FILE:LINE: PATH: MSG", leaving
// out the parts it lacks.
type Error struct {
	// File is the name the config was loaded under.
	File string
	// Line is 1-based; 0 when unknown (an empty file, a config built in Go).
	Line int
	// Path names the field, as in "namespaces[1].mode" or
	// `namespaces[0].match.labels["app.kubernetes.io/name"]`; empty for
	// syntax and decoding errors.
	Path string
	// Msg says what is wrong.
	Msg string
}

// Error formats the problem as FILE:LINE: PATH: MSG.
func (e *Error) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		if e.Line > 0 {
			b.WriteByte(':')
			b.WriteString(strconv.Itoa(e.Line))
		}
		b.WriteString(": ")
	} else if e.Line > 0 {
		b.WriteString("line ")
		b.WriteString(strconv.Itoa(e.Line))
		b.WriteString(": ")
	}
	if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// ErrorList is every problem found in one config, in file order. Load,
// Parse and Validate return it, never empty, so errors.As finds both the
// list and each *Error in it.
type ErrorList []*Error

// Error puts one problem per line.
func (l ErrorList) Error() string {
	s := make([]string, len(l))
	for i, e := range l {
		s[i] = e.Error()
	}
	return strings.Join(s, "\n")
}

// Unwrap returns the problems, for errors.Is and errors.As.
func (l ErrorList) Unwrap() []error {
	errs := make([]error, len(l))
	for i, e := range l {
		errs[i] = e
	}
	return errs
}

// err returns l as an error, or a nil error when l is empty (never a nil
// ErrorList in a non-nil interface).
func (l ErrorList) err() error {
	if len(l) == 0 {
		return nil
	}
	return l
}

// sortByLine orders problems by line, keeping the order of those on one line.
func (l ErrorList) sortByLine() {
	slices.SortStableFunc(l, func(a, b *Error) int { return cmp.Compare(a.Line, b.Line) })
}
