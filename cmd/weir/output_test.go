package main

import (
	"bytes"
	"testing"
)

// TestYAML pins the emitter's output on the shapes JSON has. Each
// expected document was checked to load back as the JSON it came from
// with a YAML 1.1 parser (PyYAML), the stricter reader of plain scalars.
func TestYAML(t *testing.T) {
	for _, c := range []struct{ json, yaml string }{
		{`{"a":1,"b":"x","c":null,"d":true,"e":1.5e-3}`, "a: 1\nb: x\nc: null\nd: true\ne: 1.5e-3\n"},
		{`[1e3,2E-7,1.5e+300,-0,12345678901234567890123]`, "- 1.0e+3\n- 2.0E-7\n- 1.5e+300\n- -0\n- 12345678901234567890123\n"},
		{`{}`, "{}\n"},
		{`[]`, "[]\n"},
		{`"s"`, "s\n"},
		{`null`, "null\n"},
		// Strings YAML would read as something else, or not at all, are quoted.
		{`["yes","No","on","null","~","123","0x1F","1.5","","  x","a: b","#c","-x","@x","*x","&x","!x","%x","|",">","[a]","{a}","a\nb","ü","2024-01-15T10:30:00Z","127.0.0.1"]`,
			"- \"yes\"\n- \"No\"\n- \"on\"\n- \"null\"\n- \"~\"\n- \"123\"\n- \"0x1F\"\n- \"1.5\"\n- \"\"\n- \"  x\"\n- \"a: b\"\n- \"#c\"\n- \"-x\"\n- \"@x\"\n- \"*x\"\n- \"&x\"\n- \"!x\"\n- \"%x\"\n- \"|\"\n- \">\"\n- \"[a]\"\n- \"{a}\"\n- \"a\\nb\"\n- \"ü\"\n- \"2024-01-15T10:30:00Z\"\n- \"127.0.0.1\"\n"},
		{`["broker-101","a.b/c_d","_x","x-"]`, "- broker-101\n- a.b/c_d\n- _x\n- x-\n"},
		// Keys order is the document's; keys are quoted like values.
		{`{"z":1,"a":2,"true":3,"y":4,"a b":5}`, "z: 1\na: 2\n\"true\": 3\n\"y\": 4\n\"a b\": 5\n"},
		// Nesting: objects indent by two; a sequence under a key stays at the
		// key's column; a collection in a sequence starts on the dash's line.
		{`{"o":{"m":{"l":[1,{"x":null,"z":[]}]}},"e":{}}`, "o:\n  m:\n    l:\n    - 1\n    - x: null\n      z: []\ne: {}\n"},
		{`[[1,[2,[]]],{},[{"a":[{"b":[1,2]},{}]}]]`, "- - 1\n  - - 2\n    - []\n- {}\n- - a:\n    - b:\n      - 1\n      - 2\n    - {}\n"},
	} {
		got, err := jsonToYAML([]byte(c.json))
		if err != nil {
			t.Fatalf("%s: %v", c.json, err)
		}
		if string(got) != c.yaml {
			t.Errorf("%s:\n got %q\nwant %q", c.json, got, c.yaml)
		}
	}
	if _, err := jsonToYAML([]byte(`{"a":`)); err == nil {
		t.Error("truncated JSON: no error")
	}
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
