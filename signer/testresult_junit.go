package signer

import (
	"encoding/xml"
	"errors"
	"fmt"
	"io"
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
// outcome. A report with no <testcase> is ErrNoTests.
func TestResultFromJUnit(r io.Reader) (*TestResult, error) {
	d := xml.NewDecoder(r)
	t := tally{}
	var suites []string
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
				suites = append(suites, junitAttr(el, "name"))
			case el.Name.Local == "testcase":
				if err := junitCase(d, &el, line, suites, t); err != nil {
					return nil, fmt.Errorf("reading JUnit XML: %w", err)
				}
			default: // properties, system-out and the like
				if err := d.Skip(); err != nil {
					return nil, fmt.Errorf("reading JUnit XML: %w", err)
				}
			}
			sawRoot = true
		case xml.EndElement:
			if el.Name.Local == "testsuite" && len(suites) > 0 {
				suites = suites[:len(suites)-1]
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

func junitCase(d *xml.Decoder, el *xml.StartElement, line int, suites []string, t tally) error {
	var tc junitTestCase
	if err := d.DecodeElement(&tc, el); err != nil {
		return fmt.Errorf("line %d: testcase: %w", line, err)
	}
	if tc.Name == "" {
		return fmt.Errorf("line %d: <testcase> has no name attribute", line)
	}
	name := tc.Name
	if tc.Classname != "" {
		name = tc.Classname + "." + tc.Name
	} else {
		for i := len(suites) - 1; i >= 0; i-- {
			if suites[i] != "" {
				name = suites[i] + "/" + name
			}
		}
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
