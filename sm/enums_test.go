package sm

import (
	"flag"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "append new wire-visible enum values to testdata/enums.golden")

// wireEnum is an enum whose numeric values travel on the wire (or are
// persisted): a value, once released, must never change meaning.
type wireEnum struct {
	name   string
	values int // how many values the type can hold
	str    func(v int) string
}

// wireEnums lists every wire-visible enum of package sm. A new one is added
// here; its values then land in testdata/enums.golden with -update.
var wireEnums = []wireEnum{
	{"AckKind", 1 << 8, func(v int) string { return AckKind(v).String() }},
	{"Code", 1 << 16, func(v int) string { return Code(v).String() }},
	{"MsgKind", 1 << 8, func(v int) string { return MsgKind(v).String() }},
}

// enumValues lists name=value for every named value of every enum, by
// asking each value for its (generated) name: stringer prints T(n) for a
// value without a constant.
func enumValues(enums []wireEnum) []string {
	var out []string
	for _, e := range enums {
		for v := range e.values {
			s := e.str(v)
			if s == fmt.Sprintf("%s(%d)", e.name, v) {
				continue
			}
			out = append(out, fmt.Sprintf("%s.%s=%d", e.name, s, v))
		}
	}
	return out
}

// TestEnumsAppendOnly holds the wire-visible enums to
// testdata/enums.golden: a value that changed or disappeared fails the test
// (peers and disks of older builds still use it), and a new value fails
// until it is appended with -update. -update never rewrites or drops an
// existing line: retiring a value is a decision made by editing the file.
func TestEnumsAppendOnly(t *testing.T) {
	checkEnumsGolden(t, filepath.Join("testdata", "enums.golden"), enumValues(wireEnums))
}

func checkEnumsGolden(t *testing.T, path string, current []string) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil && !(*update && os.IsNotExist(err)) {
		t.Fatalf("%v (create it with go test -run %s -update)", err, t.Name())
	}
	var golden []string
	for _, line := range strings.Split(string(raw), "\n") {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			golden = append(golden, line)
		}
	}
	problems, added := diffEnums(golden, current)
	for _, p := range problems {
		t.Errorf("%s: %s", path, p)
	}
	if len(added) == 0 {
		return
	}
	if !*update {
		t.Fatalf("%s lacks new values %v: append them with go test -run %s -update", path, added, t.Name())
	}
	if t.Failed() {
		t.Fatalf("not updating %s while released values changed", path)
	}
	if len(raw) == 0 {
		raw = []byte("# Wire-visible enum values, append only: a line may be added (go test -run TestEnumsAppendOnly -update), never changed.\n")
	}
	out := append(raw, []byte(strings.Join(added, "\n")+"\n")...)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, out, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("appended %d values to %s", len(added), path)
}

// diffEnums compares golden lines with current ones ("Enum.Name=value"): a
// golden line whose name or value no longer holds is a problem; current
// lines missing from golden are added.
func diffEnums(golden, current []string) (problems, added []string) {
	// Index by "Enum.Name" and by "Enum=value", so a renamed value and a
	// renumbered one are both caught.
	key := func(line string) (byName, byValue string) {
		nameValue, value, _ := strings.Cut(line, "=")
		enum, _, _ := strings.Cut(nameValue, ".")
		return nameValue, enum + "=" + value
	}
	curName, curValue := map[string]string{}, map[string]string{}
	for _, line := range current {
		n, v := key(line)
		curName[n], curValue[v] = line, line
	}
	for _, line := range golden {
		n, v := key(line)
		switch {
		case curName[n] == "" && curValue[v] == "":
			problems = append(problems, line+" is gone: a released wire value must stay")
		case curName[n] != line:
			now := curName[n]
			if now == "" {
				now = curValue[v]
			}
			problems = append(problems, line+" is now "+now+": a released wire value must not change")
		}
	}
	for _, line := range current {
		if !slices.Contains(golden, line) {
			added = append(added, line)
		}
	}
	return problems, added
}

// The comparison catches a renumbered, a renamed and a removed value, and
// lets new ones through as additions.
func TestDiffEnums(t *testing.T) {
	golden := []string{"Code.OK=0", "Code.A=1", "Code.B=2", "Code.C=3"}
	current := []string{"Code.OK=0", "Code.A=5", "Code.Bee=2", "Code.D=4"}
	problems, added := diffEnums(golden, current)
	want := []string{
		"Code.A=1 is now Code.A=5: a released wire value must not change",
		"Code.B=2 is now Code.Bee=2: a released wire value must not change",
		"Code.C=3 is gone: a released wire value must stay",
	}
	if !slices.Equal(problems, want) {
		t.Errorf("problems %q, want %q", problems, want)
	}
	if !slices.Equal(added, []string{"Code.A=5", "Code.Bee=2", "Code.D=4"}) {
		t.Errorf("added %q", added)
	}
	if p, a := diffEnums(golden, append(slices.Clone(golden), "Code.E=9")); len(p) != 0 || !slices.Equal(a, []string{"Code.E=9"}) {
		t.Errorf("append only: problems %q, added %q", p, a)
	}
}

// TestEnumsExplicit requires every constant of a wire-visible enum to spell
// its value: with iota, inserting a constant renumbers every later one and
// silently changes the protocol.
func TestEnumsExplicit(t *testing.T) {
	var names []string
	for _, e := range wireEnums {
		names = append(names, e.name)
	}
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	declared := map[string]int{}
	for _, path := range files {
		if strings.HasSuffix(path, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, msg := range implicitEnumValues(fset, f, names, declared) {
			t.Error(msg)
		}
	}
	// Every declared constant has a generated name: a constant added
	// without rerunning go generate would be invisible to the golden file.
	named := map[string]int{}
	for _, line := range enumValues(wireEnums) {
		enum, _, _ := strings.Cut(line, ".")
		named[enum]++
	}
	for _, e := range wireEnums {
		if declared[e.name] != named[e.name] {
			t.Errorf("%s: %d constants declared but %d have generated names: run go generate ./sm", e.name, declared[e.name], named[e.name])
		}
	}
}

// implicitEnumValues reports the constants of the named types in f that
// use iota or repeat the previous spec's expression, and counts the
// constants of each type in declared.
func implicitEnumValues(fset *token.FileSet, f *ast.File, types []string, declared map[string]int) []string {
	var out []string
	for _, decl := range f.Decls {
		gd, ok := decl.(*ast.GenDecl)
		if !ok || gd.Tok != token.CONST {
			continue
		}
		typ := ""
		for _, spec := range gd.Specs {
			vs := spec.(*ast.ValueSpec)
			if vs.Type != nil {
				typ = ""
				if id, ok := vs.Type.(*ast.Ident); ok {
					typ = id.Name
				}
			} else if len(vs.Values) > 0 {
				typ = "" // an untyped constant starts over
			}
			if !slices.Contains(types, typ) {
				continue
			}
			declared[typ] += len(vs.Names)
			where := fset.Position(vs.Pos())
			if len(vs.Values) == 0 {
				out = append(out, fmt.Sprintf("%v: %s %v has no explicit value", where, typ, vs.Names[0]))
				continue
			}
			ast.Inspect(vs.Values[0], func(n ast.Node) bool {
				if id, ok := n.(*ast.Ident); ok && id.Name == "iota" {
					out = append(out, fmt.Sprintf("%v: %s %v uses iota", where, typ, vs.Names[0]))
				}
				return true
			})
		}
	}
	return out
}

// The checker itself catches iota and implicit repetition.
func TestEnumsExplicitCatchesIota(t *testing.T) {
	src := `package x
const (
	A Code = iota
	B
	C Code = 7
	D = 3
)`
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "x.go", src, 0)
	if err != nil {
		t.Fatal(err)
	}
	declared := map[string]int{}
	got := implicitEnumValues(fset, f, []string{"Code"}, declared)
	if declared["Code"] != 3 {
		t.Errorf("counted %d Code constants, want 3", declared["Code"])
	}
	if len(got) != 2 || !strings.Contains(got[0], "A uses iota") || !strings.Contains(got[1], "B has no explicit value") {
		t.Fatalf("got %q", got)
	}
}
