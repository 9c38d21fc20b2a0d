package main

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Output formats of the admin commands (--format).
const (
	formatTable = "table"
	formatJSON  = "json"
	formatYAML  = "yaml"
	formatCSV   = "csv"
)

// parseFormat checks a --format value.
func parseFormat(s string) (string, error) {
	switch f := strings.ToLower(strings.TrimSpace(s)); f {
	case formatTable, formatJSON, formatYAML, formatCSV:
		return f, nil
	}
	return "", fmt.Errorf("unknown --format %q: want table, json, yaml or csv", s)
}

// ANSI SGR sequences for table output on a terminal.
const (
	sgrBold   = "\x1b[1m"
	sgrRed    = "\x1b[31m"
	sgrGreen  = "\x1b[32m"
	sgrYellow = "\x1b[33m"
	sgrReset  = "\x1b[0m"
)

// view is what an admin command prints, in every format.
type view struct {
	// data is printed by json and yaml. A json.RawMessage (the API's data)
	// passes through with its keys in the API's order; anything else is
	// marshalled with encoding/json, so json tags name the keys.
	data any
	// preface is printed, table format only, before the table.
	preface []string
	// table is the table format.
	table table
	// csv is the csv format: a header row, then the records.
	csv [][]string
}

// table is a text table whose columns are padded to their widest cell.
type table struct {
	// header is the first row, bold; nil for a key/value table.
	header []string
	rows   [][]string
	// keys makes the first column bold (a key/value table).
	keys bool
	// paint returns the SGR sequence for a cell ("" for none); nil paints
	// nothing. It is only called when color is on.
	paint func(row, col int) string
}

// print writes r to stdout in the --format.
func (g *globals) print(r view) error {
	return writeReport(os.Stdout, g.format, r, g.colorOn(os.Stdout))
}

// colorOn reports whether table output to f gets ANSI colors: not with
// --no-color, not when NO_COLOR is set and not empty (no-color.org), not
// on a dumb terminal, and only when f is a terminal.
func (g *globals) colorOn(f *os.File) bool {
	return !g.noColor && os.Getenv("NO_COLOR") == "" && os.Getenv("TERM") != "dumb" && isTerminal(f)
}

func writeReport(w io.Writer, format string, r view, color bool) error {
	switch format {
	case formatJSON:
		b, err := indentedJSON(r.data)
		if err != nil {
			return err
		}
		_, err = w.Write(b)
		return err
	case formatYAML:
		b, err := toJSON(r.data)
		if err != nil {
			return err
		}
		y, err := jsonToYAML(b)
		if err != nil {
			return err
		}
		_, err = w.Write(y)
		return err
	case formatCSV:
		cw := csv.NewWriter(w)
		if err := cw.WriteAll(r.csv); err != nil {
			return fmt.Errorf("writing csv: %w", err)
		}
		return nil
	}
	var buf bytes.Buffer
	for _, l := range r.preface {
		buf.WriteString(l)
		buf.WriteByte('\n')
	}
	r.table.render(&buf, color)
	_, err := w.Write(buf.Bytes())
	return err
}

// render writes the table with two spaces between columns. Widths are
// counted on the text, before colors are added, so colored and plain
// output line up the same.
func (t table) render(buf *bytes.Buffer, color bool) {
	all := t.rows
	if t.header != nil {
		all = append([][]string{t.header}, t.rows...)
	}
	var widths []int
	for _, row := range all {
		for i, c := range row {
			if i >= len(widths) {
				widths = append(widths, 0)
			}
			widths[i] = max(widths[i], utf8.RuneCountInString(c))
		}
	}
	for ri, row := range all {
		for ci, c := range row {
			sgr := ""
			if color {
				switch {
				case t.header != nil && ri == 0, t.keys && ci == 0:
					sgr = sgrBold
				case t.paint != nil:
					dr := ri
					if t.header != nil {
						dr--
					}
					sgr = t.paint(dr, ci)
				}
			}
			if sgr != "" {
				buf.WriteString(sgr + c + sgrReset)
			} else {
				buf.WriteString(c)
			}
			if ci < len(row)-1 {
				buf.WriteString(strings.Repeat(" ", widths[ci]-utf8.RuneCountInString(c)+2))
			}
		}
		buf.WriteByte('\n')
	}
}

// toJSON marshals v compactly, without HTML escaping (a topic name is
// printed as it is).
func toJSON(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("encoding output: %w", err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

func indentedJSON(v any) ([]byte, error) {
	b, err := toJSON(v)
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	if err := json.Indent(&out, b, "", "  "); err != nil {
		return nil, err
	}
	out.WriteByte('\n')
	return out.Bytes(), nil
}

// jsonToYAML renders a JSON document as block-style YAML with the same
// keys in the same order.
//
// It is a small emitter rather than a YAML library because the module
// does not depend on one and this change is confined to cmd/weir: the
// shapes printed are JSON's (objects, arrays, strings, numbers, bools,
// null), which YAML renders simply. Strings that YAML could read as
// anything but the same string are written as JSON strings, which are
// valid YAML double-quoted scalars with the same escapes.
func jsonToYAML(b []byte) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	v, err := decodeOrdered(dec)
	if err != nil {
		return nil, fmt.Errorf("rendering yaml: %w", err)
	}
	var buf bytes.Buffer
	switch v := v.(type) {
	case orderedObject:
		if len(v) == 0 {
			buf.WriteString("{}\n")
		} else {
			writeYAMLObject(&buf, v, 0)
		}
	case []any:
		if len(v) == 0 {
			buf.WriteString("[]\n")
		} else {
			writeYAMLArray(&buf, v, 0)
		}
	default:
		buf.WriteString(yamlScalar(v) + "\n")
	}
	return buf.Bytes(), nil
}

// orderedObject is a JSON object with its keys in document order.
type orderedObject []keyValue

type keyValue struct {
	key   string
	value any
}

// decodeOrdered reads one JSON value: orderedObject, []any, string,
// json.Number, bool or nil.
func decodeOrdered(dec *json.Decoder) (any, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch tok {
	case json.Delim('{'):
		obj := orderedObject{}
		for dec.More() {
			k, err := dec.Token()
			if err != nil {
				return nil, err
			}
			v, err := decodeOrdered(dec)
			if err != nil {
				return nil, err
			}
			obj = append(obj, keyValue{k.(string), v})
		}
		_, err := dec.Token() // '}'
		return obj, err
	case json.Delim('['):
		arr := []any{}
		for dec.More() {
			v, err := decodeOrdered(dec)
			if err != nil {
				return nil, err
			}
			arr = append(arr, v)
		}
		_, err := dec.Token() // ']'
		return arr, err
	}
	return tok, nil
}

// yamlInline is how v is written after "key: " or "- ": a scalar, or an
// empty collection in flow style; ok is false for a non-empty collection,
// which goes on the following lines.
func yamlInline(v any) (string, bool) {
	switch v := v.(type) {
	case orderedObject:
		return "{}", len(v) == 0
	case []any:
		return "[]", len(v) == 0
	}
	return yamlScalar(v), true
}

func writeYAMLObject(buf *bytes.Buffer, obj orderedObject, indent int) {
	pad := strings.Repeat(" ", indent)
	for _, kv := range obj {
		if atLineStart(buf) { // not right after "- "
			buf.WriteString(pad)
		}
		buf.WriteString(yamlString(kv.key) + ":")
		if s, ok := yamlInline(kv.value); ok {
			buf.WriteString(" " + s + "\n")
			continue
		}
		buf.WriteByte('\n')
		switch v := kv.value.(type) {
		case orderedObject:
			writeYAMLObject(buf, v, indent+2)
		case []any:
			// A sequence under a key may stay at the key's indentation.
			writeYAMLArray(buf, v, indent)
		}
	}
}

func writeYAMLArray(buf *bytes.Buffer, arr []any, indent int) {
	pad := strings.Repeat(" ", indent)
	for _, v := range arr {
		if atLineStart(buf) {
			buf.WriteString(pad)
		}
		buf.WriteString("- ")
		if s, ok := yamlInline(v); ok {
			buf.WriteString(s + "\n")
			continue
		}
		// A collection starts on the dash's line, indented past it.
		switch v := v.(type) {
		case orderedObject:
			writeYAMLObject(buf, v, indent+2)
		case []any:
			writeYAMLArray(buf, v, indent+2)
		}
	}
}

func atLineStart(buf *bytes.Buffer) bool {
	return buf.Len() == 0 || buf.Bytes()[buf.Len()-1] == '\n'
}

func yamlScalar(v any) string {
	switch v := v.(type) {
	case nil:
		return "null"
	case bool:
		return strconv.FormatBool(v)
	case json.Number:
		return yamlNumber(v.String())
	case string:
		return yamlString(v)
	}
	panic(fmt.Sprintf("yaml: unexpected %T", v)) // decodeOrdered returns no other type
}

// yamlNumber writes a JSON number so that YAML 1.1 too reads it as one:
// an exponent needs a dot in the mantissa and a sign ("1e3" is 1.0e+3).
func yamlNumber(n string) string {
	i := strings.IndexAny(n, "eE")
	if i < 0 {
		return n
	}
	mant, exp := n[:i], n[i+1:]
	if !strings.Contains(mant, ".") {
		mant += ".0"
	}
	if exp[0] != '+' && exp[0] != '-' {
		exp = "+" + exp
	}
	return mant + n[i:i+1] + exp
}

// yamlString writes s plain when YAML (1.1 or 1.2) can only read it back
// as the same string: a letter or underscore, then letters, digits and
// "_./-", and not a word that YAML 1.1 reads as a bool or null. Anything
// else is double-quoted.
func yamlString(s string) string {
	plain := s != ""
	for i, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r == '_':
		case i > 0 && (r >= '0' && r <= '9' || r == '.' || r == '/' || r == '-'):
		default:
			plain = false
		}
	}
	switch strings.ToLower(s) {
	case "y", "n", "yes", "no", "on", "off", "true", "false", "null":
		plain = false
	}
	if plain {
		return s
	}
	b, _ := toJSON(s) // a string always encodes
	return string(b)
}
