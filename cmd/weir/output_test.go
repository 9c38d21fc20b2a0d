package main

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"

	"go.yaml.in/yaml/v3"
)

// TestYAML: every JSON shape the CLI prints renders as block-style YAML
// that a YAML 1.2 reader loads back as the same document, with keys in the
// document's order.
func TestYAML(t *testing.T) {
	for _, doc := range []string{
		`{"a":1,"b":"x","c":null,"d":true,"e":1.5e-3}`,
		`[1e3,2E-7,1.5e+300,-0]`,
		`{}`, `[]`, `"s"`, `null`,
		`["yes","No","on","null","~","123","0x1F","1.5","","  x","a: b","#c","-x","@x","*x","&x","!x","%x","|",">","[a]","{a}","a\nb","ü","2024-01-15T10:30:00Z","127.0.0.1"]`,
		`["broker-101","a.b/c_d","_x","x-"]`,
		`{"z":1,"a":2,"true":3,"y":4,"a b":5}`,
		`{"o":{"m":{"l":[1,{"x":null,"z":[]}]}},"e":{}}`,
		`[[1,[2,[]]],{},[{"a":[{"b":[1,2]},{}]}]]`,
	} {
		got, err := jsonToYAML([]byte(doc))
		if err != nil {
			t.Fatalf("%s: %v", doc, err)
		}
		if bytes.Contains(got, []byte("{\"")) || bytes.HasPrefix(got, []byte("[")) && doc != "[]" {
			t.Errorf("%s: not block style:\n%s", doc, got)
		}
		var fromYAML, fromJSON any
		if err := yaml.Unmarshal(got, &fromYAML); err != nil {
			t.Fatalf("%s: output does not load: %v\n%s", doc, err, got)
		}
		if err := json.Unmarshal([]byte(doc), &fromJSON); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(normalize(fromYAML), normalize(fromJSON)) {
			t.Errorf("%s: loads back as %#v\n%s", doc, fromYAML, got)
		}
	}
	if got, _ := jsonToYAML([]byte(`{"z":1,"a":{"y":2,"b":3}}`)); string(got) != "z: 1\na:\n  y: 2\n  b: 3\n" {
		t.Errorf("key order or indentation: %q", got)
	}
	if _, err := jsonToYAML([]byte(`{"a":`)); err == nil {
		t.Error("truncated JSON: no error")
	}
}

// normalize makes numbers float64 and maps map[string]any, as JSON has them.
func normalize(v any) any {
	switch x := v.(type) {
	case int:
		return float64(x)
	case map[string]any:
		for k, e := range x {
			x[k] = normalize(e)
		}
	case []any:
		for i, e := range x {
			x[i] = normalize(e)
		}
	}
	return v
}

func TestTable(t *testing.T) {
	tb := table{
		header: []string{"NAME", "WHO"},
		rows:   [][]string{{"ü-topic", "x"}, {"b", "longer"}},
		paint: func(row, col int) string {
			if row == 1 && col == 1 {
				return sgrRed
			}
			return ""
		},
	}
	var plain, colored bytes.Buffer
	tb.render(&plain, false)
	tb.render(&colored, true)
	if want := "NAME     WHO\nü-topic  x\nb        longer\n"; plain.String() != want {
		t.Errorf("plain: %q, want %q", plain.String(), want)
	}
	if want := sgrBold + "NAME" + sgrReset + "     " + sgrBold + "WHO" + sgrReset + "\nü-topic  x\nb        " + sgrRed + "longer" + sgrReset + "\n"; colored.String() != want {
		t.Errorf("colored: %q, want %q", colored.String(), want)
	}
	kv := table{rows: [][]string{{"K", "v"}, {"KEY", "w"}}, keys: true}
	var b bytes.Buffer
	kv.render(&b, true)
	if want := sgrBold + "K" + sgrReset + "    v\n" + sgrBold + "KEY" + sgrReset + "  w\n"; b.String() != want {
		t.Errorf("key/value: %q, want %q", b.String(), want)
	}
}

func TestParseFormat(t *testing.T) {
	for in, want := range map[string]string{"table": "table", "JSON": "json", " yaml ": "yaml", "csv": "csv"} {
		if got, err := parseFormat(in); err != nil || got != want {
			t.Errorf("%q: %q %v", in, got, err)
		}
	}
	for _, in := range []string{"", "xml", "yml"} {
		if _, err := parseFormat(in); err == nil {
			t.Errorf("%q: no error", in)
		}
	}
}
