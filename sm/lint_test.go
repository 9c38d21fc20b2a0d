package sm_test

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// forbidden imports for anything under sm/: state machines get time, entropy
// and I/O only through events, so a replay is exact.
var forbidden = map[string]string{
	"os":               "I/O",
	"net":              "I/O",
	"syscall":          "I/O",
	"io/ioutil":        "I/O",
	"sync":             "concurrency",
	"sync/atomic":      "concurrency",
	"math/rand":        "unseeded randomness",
	"math/rand/v2":     "unseeded randomness",
	"crypto/rand":      "unseeded randomness",
	"time":             "wall-clock time (use sm.Time from events)",
	"unsafe":           "memory unsafety",
	"runtime":          "scheduler access",
	"reflect":          "map-order and layout dependence",
	"testing/synctest": "concurrency",
}

// pure lists the packages under an otherwise forbidden prefix that are plain
// values with no I/O: net/netip is IP addresses and prefixes as comparable
// structs (sm/acl's source-address conditions), nothing that opens a socket.
var pure = map[string]bool{
	"net/netip": true,
}

// lintFile returns the purity violations in one file's source.
func lintFile(fset *token.FileSet, name string, src any) ([]string, error) {
	f, err := parser.ParseFile(fset, name, src, parser.SkipObjectResolution)
	if err != nil {
		return nil, err
	}
	var bad []string
	report := func(n ast.Node, format string, args ...any) {
		bad = append(bad, fmt.Sprintf("%s: %s", fset.Position(n.Pos()), fmt.Sprintf(format, args...)))
	}
	for _, imp := range f.Imports {
		path, _ := strconv.Unquote(imp.Path.Value)
		if pure[path] {
			continue
		}
		if why, ok := forbidden[path]; ok || strings.HasPrefix(path, "net/") || strings.HasPrefix(path, "os/") {
			if !ok {
				why = "I/O"
			}
			report(imp, "imports %q (%s)", path, why)
		}
	}
	ast.Inspect(f, func(n ast.Node) bool {
		switch x := n.(type) {
		case *ast.GoStmt:
			report(x, "starts a goroutine")
		case *ast.SelectStmt:
			report(x, "uses select")
		case *ast.ChanType:
			report(x, "uses a channel")
		case *ast.SelectorExpr:
			if id, ok := x.X.(*ast.Ident); ok && id.Name == "time" && (x.Sel.Name == "Now" || x.Sel.Name == "Since" || x.Sel.Name == "Sleep") {
				report(x, "calls time.%s", x.Sel.Name)
			}
		}
		return true
	})
	return bad, nil
}

// TestPurity fails if any non-test file under sm/ does I/O, reads a clock,
// draws unseeded randomness or starts concurrency.
func TestPurity(t *testing.T) {
	fset := token.NewFileSet()
	files := 0
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return err
		}
		files++
		bad, err := lintFile(fset, path, nil)
		if err != nil {
			return err
		}
		for _, b := range bad {
			t.Error(b)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files == 0 {
		t.Fatal("lint found no files under sm/")
	}
}

// TestPurityLintCatches shows the lint is not vacuous.
func TestPurityLintCatches(t *testing.T) {
	src := `package x
import ("os"; "time"; mr "math/rand")
func f() { go f(); _ = time.Now(); var c chan int; _ = c; _ = os.Args; _ = mr.Int() }
`
	bad, err := lintFile(token.NewFileSet(), "x.go", src)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{`"os"`, `"time"`, `"math/rand"`, "goroutine", "channel", "time.Now"}
	joined := strings.Join(bad, "\n")
	for _, w := range want {
		if !strings.Contains(joined, w) {
			t.Errorf("lint missed %s; got:\n%s", w, joined)
		}
	}
}

// TestPurityAllowsValuePackages shows the one exception is narrow: net/netip
// passes, any other net/ package is still refused.
func TestPurityAllowsValuePackages(t *testing.T) {
	bad, err := lintFile(token.NewFileSet(), "x.go", `package x
import ("net/netip"; "net/http")
var _ netip.Addr
var _ http.Client
`)
	if err != nil {
		t.Fatal(err)
	}
	if len(bad) != 1 || !strings.Contains(bad[0], `"net/http"`) {
		t.Fatalf("want exactly net/http refused, got %q", bad)
	}
}
