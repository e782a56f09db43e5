package signer

import (
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
)

// TestResultFromJUnit builds a test-result predicate from a JUnit XML
// report: a <testsuites> document or a bare <testsuite>, suites nested or
// not, as Maven Surefire, Gradle, pytest, Jest, go-junit-report and
// gotestsum write them.
//
// A test is named classname.name, or suite/name when it has no classname
// (suites nested: outer/inner/name), or its bare name. A <testcase> with a
// <failure> or an <error> failed; one with <skipped> is a warning, as is
// one that passed only on a rerun (Surefire's <flakyFailure> and
// <flakyError>); any other passed. A test reported twice keeps its worst
// outcome. A report with no <testcase> is ErrNoTests, one whose test
// names add up to more than maxJUnitNames bytes is refused.
func TestResultFromJUnit(r io.Reader) (*TestResult, error) {
	d := xml.NewDecoder(r)
	t := tally{}
	var suites junitSuites
	sawRoot := false
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("reading JUnit XML: %w", err)
		}
		switch el := tok.(type) {
		case xml.StartElement:
			line, _ := d.InputPos()
			switch {
			case !sawRoot && el.Name.Local != "testsuites" && el.Name.Local != "testsuite":
				return nil, fmt.Errorf("reading JUnit XML: line %d: root element <%s>, want <testsuites> or <testsuite>", line, el.Name.Local)
			case el.Name.Local == "testsuites" && !sawRoot:
			case el.Name.Local == "testsuite":
				suites.push(junitAttr(el, "name"))
			case el.Name.Local == "testcase":
				if err := junitCase(d, &el, line, &suites, t); err != nil {
					return nil, fmt.Errorf("reading JUnit XML: %w", err)
				}
			default: // properties, system-out and the like
				if err := d.Skip(); err != nil {
					return nil, fmt.Errorf("reading JUnit XML: %w", err)
				}
			}
			sawRoot = true
		case xml.EndElement:
			if el.Name.Local == "testsuite" {
				suites.pop()
			}
		}
	}
	if !sawRoot {
		return nil, errors.New("reading JUnit XML: no <testsuites> or <testsuite> element")
	}
	tr, err := t.result()
	if err != nil {
		return nil, fmt.Errorf("reading JUnit XML: %w", err)
	}
	return tr, nil
}

// junitTestCase is the part of a <testcase> that decides its outcome.
type junitTestCase struct {
	Name         string    `xml:"name,attr"`
	Classname    string    `xml:"classname,attr"`
	Failure      *struct{} `xml:"failure"`
	Error        *struct{} `xml:"error"`
	Skipped      *struct{} `xml:"skipped"`
	FlakyFailure *struct{} `xml:"flakyFailure"`
	FlakyError   *struct{} `xml:"flakyError"`
}

// maxJUnitNames bounds the bytes of all test names a report may make,
// 64 MiB: a test without a classname is named after every suite around it,
// so a report of half a megabyte (one suite named with 100,000 bytes, 20,000
// test cases in it) made 2 GB of names and took 20 s. Real reports stay far
// below: 100,000 tests of 200-byte names are 20 MB.
const maxJUnitNames = 64 << 20

// junitSuites are the names of the suites open around the current element,
// with the length of the prefix they give a test name.
type junitSuites struct {
	names     []string
	prefixLen int // of "outer/inner/", empty names left out
	total     int // bytes of test names made so far
}

func (s *junitSuites) push(name string) {
	s.names = append(s.names, name)
	if name != "" {
		s.prefixLen += len(name) + 1
	}
}

func (s *junitSuites) pop() {
	if len(s.names) == 0 {
		return
	}
	if name := s.names[len(s.names)-1]; name != "" {
		s.prefixLen -= len(name) + 1
	}
	s.names = s.names[:len(s.names)-1]
}

func junitCase(d *xml.Decoder, el *xml.StartElement, line int, suites *junitSuites, t tally) error {
	var tc junitTestCase
	if err := d.DecodeElement(&tc, el); err != nil {
		return fmt.Errorf("line %d: testcase: %w", line, err)
	}
	if tc.Name == "" {
		return fmt.Errorf("line %d: <testcase> has no name attribute", line)
	}
	size := suites.prefixLen + len(tc.Name)
	if tc.Classname != "" {
		size = len(tc.Classname) + 1 + len(tc.Name)
	}
	if suites.total += size; suites.total > maxJUnitNames {
		return fmt.Errorf("line %d: the report's test names add up to more than %d MiB", line, maxJUnitNames>>20)
	}
	name := tc.Name
	if tc.Classname != "" {
		name = tc.Classname + "." + tc.Name
	} else if suites.prefixLen > 0 {
		var b strings.Builder
		b.Grow(size)
		for _, s := range suites.names {
			if s != "" {
				b.WriteString(s)
				b.WriteByte('/')
			}
		}
		b.WriteString(tc.Name)
		name = b.String()
	}
	switch {
	case tc.Failure != nil || tc.Error != nil:
		t.add(name, outcomeFailed)
	case tc.Skipped != nil || tc.FlakyFailure != nil || tc.FlakyError != nil:
		t.add(name, outcomeWarned)
	default:
		t.add(name, outcomePassed)
	}
	return nil
}

// junitAttr is the value of el's attribute name, "" when it has none.
func junitAttr(el xml.StartElement, name string) string {
	for _, a := range el.Attr {
		if a.Name.Local == name {
			return a.Value
		}
	}
	return ""
}
