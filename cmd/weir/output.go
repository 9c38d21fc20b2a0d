package main

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"go.yaml.in/yaml/v3"
	"io"
	"os"
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
// keys in the same order: JSON is YAML, so yaml.v3 parses it into nodes
// (which keep key order); clearing the flow and quoting styles the JSON
// syntax gave them lets the encoder write block style and quote only the
// strings YAML would read as something else.
func jsonToYAML(b []byte) ([]byte, error) {
	if !json.Valid(b) {
		return nil, fmt.Errorf("rendering yaml: invalid JSON")
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("rendering yaml: %w", err)
	}
	var plain func(*yaml.Node)
	plain = func(n *yaml.Node) {
		n.Style = 0
		for _, c := range n.Content {
			plain(c)
		}
	}
	plain(&doc)
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	enc.CompactSeqIndent() // "- x" at its key's column, as kubectl prints
	if err := enc.Encode(&doc); err != nil {
		return nil, fmt.Errorf("rendering yaml: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("rendering yaml: %w", err)
	}
	return buf.Bytes(), nil
}
