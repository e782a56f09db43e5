package policy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"

	"github.com/go-json-experiment/json/jsontext"
	"github.com/open-policy-agent/opa/v1/ast"
)

// parseJSON reads one JSON value straight into an OPA value. OPA's own
// ast.ValueFromReader decodes into map[string]any first and converts that;
// for the 12 KB AdmissionReview of BenchmarkInputValue this is about twice
// as fast with half the bytes allocated, and the input is the largest
// per-request cost outside evaluation. Like the workload package, it
// refuses duplicate object names and invalid UTF-8, which encoding/json
// lets through; FuzzParseJSON checks it reads what OPA reads.
func parseJSON(data []byte) (ast.Value, error) {
	return parseWithout(data, nil)
}

// parseWithout is parseJSON leaving out the member at path omit (see
// members) when data is an object.
func parseWithout(data []byte, omit []string) (ast.Value, error) {
	p := parsers.Get().(*jsonParser)
	defer p.release()
	// From a bytes.Buffer the decoder reads in place, without copying
	// data into a buffer of its own. Nothing it returns is kept: every
	// string is copied into its term.
	p.d.Reset(bytes.NewBuffer(data))
	var t *ast.Term
	var err error
	if len(omit) > 0 && p.d.PeekKind() == '{' {
		if _, err = p.d.ReadToken(); err == nil {
			t, err = p.members(omit)
		}
	} else {
		t, err = p.term()
	}
	if err != nil {
		return nil, err
	}
	if _, err := p.d.ReadToken(); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("data after the JSON value at offset %d", p.d.InputOffset())
	}
	return t.Value, nil
}

// parsers keeps parsers between calls, with their decoder (and its state
// for duplicate names), stacks and string table: for the 12 KB review of
// BenchmarkInputValue they were a quarter of the bytes a parse allocated.
var parsers = sync.Pool{New: func() any {
	return &jsonParser{d: jsontext.NewDecoder(noInput), strs: make(map[string]*ast.Term, 256)}
}}

// noInput is what an idle parser's decoder reads, so it keeps no document.
var noInput = bytes.NewReader(nil)

// maxPooledStrings bounds the string table a parser keeps between calls:
// one 7 MiB review should not pin its table for good.
const maxPooledStrings = 4096

// release empties p and returns it to parsers.
func (p *jsonParser) release() {
	p.d.Reset(noInput)
	if len(p.strs) > maxPooledStrings {
		return
	}
	clear(p.strs)
	clear(p.pairs[:cap(p.pairs)])
	clear(p.elems[:cap(p.elems)])
	p.pairs, p.elems = p.pairs[:0], p.elems[:0]
	parsers.Put(p)
}

// jsonParser keeps one stack of object members and one of array elements
// for the whole document, so building a value allocates only the value, and
// makes one term per distinct string: an AdmissionReview repeats its names
// ("name", "image", "resources") and much of object in oldObject.
type jsonParser struct {
	d     *jsontext.Decoder
	pairs [][2]*ast.Term
	elems []*ast.Term
	strs  map[string]*ast.Term
}

// str reads a string (a member name or a value) as a shared term.
func (p *jsonParser) str() (*ast.Term, error) {
	raw, err := p.d.ReadValue()
	if err != nil {
		return nil, err
	}
	s := []byte(raw[1 : len(raw)-1])
	if bytes.IndexByte(s, '\\') >= 0 {
		if s, err = jsontext.AppendUnquote(nil, raw); err != nil {
			return nil, err
		}
	}
	if t, ok := p.strs[string(s)]; ok { // no allocation for the lookup
		return t, nil
	}
	t := ast.InternedTerm(string(s))
	p.strs[string(s)] = t
	return t, nil
}

// members reads an object's members, its '{' already read, up to and
// including its '}'. omit is a path of member names below this object
// whose value is read and left out: ["request", "oldObject"] leaves out
// request.oldObject when request is an object. nil omits nothing.
func (p *jsonParser) members(omit []string) (*ast.Term, error) {
	start := len(p.pairs)
	for p.d.PeekKind() != '}' {
		key, err := p.str()
		if err != nil {
			return nil, err
		}
		var v *ast.Term
		switch {
		case len(omit) == 0 || string(key.Value.(ast.String)) != omit[0]:
			v, err = p.term()
		case len(omit) == 1:
			err = p.d.SkipValue()
		case p.d.PeekKind() == '{':
			if _, err = p.d.ReadToken(); err == nil {
				v, err = p.members(omit[1:])
			}
		default:
			v, err = p.term()
		}
		if err != nil {
			return nil, err
		}
		if v != nil {
			p.pairs = append(p.pairs, [2]*ast.Term{key, v})
		}
	}
	if _, err := p.d.ReadToken(); err != nil {
		return nil, err
	}
	obj := ast.ObjectTerm(p.pairs[start:]...) // copies the members
	p.pairs = p.pairs[:start]
	return obj, nil
}

// term reads the next value; scalars come from OPA's interned terms where
// it has them, which evaluation never modifies.
func (p *jsonParser) term() (*ast.Term, error) {
	switch p.d.PeekKind() {
	case '"':
		return p.str()
	case '0':
		raw, err := p.d.ReadValue()
		if err != nil {
			return nil, err
		}
		if t := ast.InternedIntNumberTermFromString(string(raw)); t != nil {
			return t, nil
		}
		// OPA refuses a number whose exponent it cannot evaluate with
		// (0e44444444444444444444); so does this parser, or the two would
		// read one review differently.
		n, err := ast.NumberChecked(string(raw))
		if err != nil {
			return nil, fmt.Errorf("invalid number %.40s: %w", raw, err)
		}
		return ast.NewTerm(n), nil
	}
	tok, err := p.d.ReadToken()
	if err != nil {
		return nil, err
	}
	switch tok.Kind() {
	case '{':
		return p.members(nil)
	case '[':
		start := len(p.elems)
		for p.d.PeekKind() != ']' {
			v, err := p.term()
			if err != nil {
				return nil, err
			}
			p.elems = append(p.elems, v)
		}
		if _, err := p.d.ReadToken(); err != nil {
			return nil, err
		}
		arr := ast.ArrayTerm(slices.Clone(p.elems[start:])...) // keeps its slice
		p.elems = p.elems[:start]
		return arr, nil
	case 't', 'f':
		return ast.InternedTerm(tok.Bool()), nil
	case 'n':
		return ast.NullTerm(), nil
	}
	return nil, fmt.Errorf("unexpected JSON token %v", tok)
}
