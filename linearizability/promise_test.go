package linearizability

import (
	"go/ast"
	"go/parser"
	"go/token"
	"strings"
	"testing"
)

// Every Violation* constant belongs to exactly one promise, so no finding
// can break "nothing".
func TestPromisesCoverKinds(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "checklog.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, d := range f.Decls {
		g, ok := d.(*ast.GenDecl)
		if !ok || g.Tok != token.CONST {
			continue
		}
		for _, s := range g.Specs {
			for _, n := range s.(*ast.ValueSpec).Names {
				if strings.HasPrefix(n.Name, "Violation") && n.Name != "ViolationsPerKindMax" {
					lit := s.(*ast.ValueSpec).Values[0].(*ast.BasicLit).Value
					kinds = append(kinds, strings.Trim(lit, `"`))
				}
			}
		}
	}
	if len(kinds) < 10 {
		t.Fatalf("found only %d violation kinds in checklog.go: %v", len(kinds), kinds)
	}
	for _, k := range kinds {
		n := 0
		for _, p := range Promises {
			for _, pk := range p.Kinds {
				if pk == k {
					n++
				}
			}
		}
		if n != 1 {
			t.Errorf("violation kind %q belongs to %d promises, want 1", k, n)
		}
	}
	if _, err := PromiseNamed("nope"); err == nil || !strings.Contains(err.Error(), "durable") {
		t.Errorf("unknown promise error: %v", err)
	}
}
