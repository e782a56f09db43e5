package signer

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
)

// TestResultFromGoTestJSON builds a test-result predicate from the output
// of `go test -json` (test2json events, one JSON object a line; stdout
// only, not mixed with stderr).
//
// A test is named package.Test (package.Test/subtest for subtests; Test
// alone when the stream carries no package, as test2json run by hand
// writes it). A test's last action decides it: pass passed, fail failed,
// skip is a warning. A test that started and never ended (a panic, a
// timeout, os.Exit) failed. A package that failed with no failing test of
// its own — a build failure, TestMain, a panic in init — is listed among
// the failed tests as "package [build failed]" or "package [failed]". A
// package skipped for having no test files adds nothing, and a stream with
// no test at all is ErrNoTests.
func TestResultFromGoTestJSON(r io.Reader) (*TestResult, error) {
	s := goTestStream{
		open:        map[string]string{},
		pkgFailed:   map[string]bool{},
		buildFailed: map[string]bool{},
		failedIn:    map[string]bool{},
		t:           tally{},
	}
	br := bufio.NewReader(r)
	for n := 1; ; n++ {
		line, err := br.ReadBytes('\n')
		if len(bytes.TrimSpace(line)) > 0 {
			if perr := s.event(line); perr != nil {
				return nil, fmt.Errorf("reading go test -json: line %d: %w", n, perr)
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("reading go test -json: line %d: %w", n, err)
		}
	}
	tr, err := s.result()
	if err != nil {
		return nil, fmt.Errorf("reading go test -json: %w", err)
	}
	return tr, nil
}

// goTestEvent is the part of a test2json event that decides outcomes.
type goTestEvent struct {
	Action  string
	Package string
	Test    string
	// FailedBuild, on a package's fail, names the package whose build
	// failed (Go 1.24 and later; build-output and build-fail events,
	// which carry no Package, are not needed).
	FailedBuild string
}

type goTestStream struct {
	open        map[string]string // tests run and not yet ended → their package
	pkgFailed   map[string]bool
	buildFailed map[string]bool
	failedIn    map[string]bool // packages with a failed test
	t           tally
}

// maxShownLine is how much of an unreadable line an error quotes.
const maxShownLine = 80

func (s *goTestStream) event(line []byte) error {
	var e goTestEvent
	if err := json.Unmarshal(line, &e); err != nil {
		shown := bytes.TrimSpace(line)
		if len(shown) > maxShownLine {
			shown = append(shown[:maxShownLine:maxShownLine], "…"...)
		}
		return fmt.Errorf("not a test2json event (%v): %q", err, shown)
	}
	if e.Action == "" {
		return errors.New("event has no Action")
	}
	if e.Test == "" {
		if e.Action == "fail" {
			s.pkgFailed[e.Package] = true
			if e.FailedBuild != "" {
				s.buildFailed[e.Package] = true
			}
		}
		return nil
	}
	name := e.Test
	if e.Package != "" {
		name = e.Package + "." + e.Test
	}
	switch e.Action {
	case "run":
		s.open[name] = e.Package
	case "pass":
		delete(s.open, name)
		s.t.add(name, outcomePassed)
	case "skip":
		delete(s.open, name)
		s.t.add(name, outcomeWarned)
	case "fail":
		delete(s.open, name)
		s.t.add(name, outcomeFailed)
		s.failedIn[e.Package] = true
	}
	return nil
}

func (s *goTestStream) result() (*TestResult, error) {
	// Packages with a test that never ended, gathered in one pass: asking
	// per failed package made a stream of many packages quadratic (30,000
	// of them took 88 s).
	openIn := map[string]bool{}
	for name, pkg := range s.open {
		s.t.add(name, outcomeFailed)
		openIn[pkg] = true
	}
	pkgs := make([]string, 0, len(s.pkgFailed))
	for pkg := range s.pkgFailed {
		pkgs = append(pkgs, pkg)
	}
	sort.Strings(pkgs)
	for _, pkg := range pkgs {
		switch {
		case s.buildFailed[pkg]:
			s.t.add(pkg+" [build failed]", outcomeFailed)
		case !s.failedIn[pkg] && !openIn[pkg]:
			s.t.add(pkg+" [failed]", outcomeFailed)
		}
	}
	return s.t.result()
}
