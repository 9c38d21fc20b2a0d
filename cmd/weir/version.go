package main

import (
	"fmt"
	"regexp"
	"runtime"
	"runtime/debug"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/weirmq/weir/cmd/internal/server"
)

// versionInfo is what `weir version` prints in json, yaml and csv.
type versionInfo struct {
	Version string `json:"version"`
	// Revision is the git commit the binary was built from, "" when the
	// build carries none (go test; go build -buildvcs=false; a build
	// outside a git checkout).
	Revision string `json:"revision"`
	// Modified says the working tree had uncommitted changes.
	Modified bool   `json:"modified"`
	Go       string `json:"go"`
	Platform string `json:"platform"`
	// Note says why Revision is empty.
	Note string `json:"note,omitempty"`
}

// pseudoVersionRE matches the pseudo-versions go build stamps on an
// untagged commit (v0.0.0-20261202184209-e6f7fed73acc+dirty): they only
// repeat the revision, so the version shown is then server.Version.
var pseudoVersionRE = regexp.MustCompile(`-(0\.)?[0-9]{14}-[0-9a-f]{12}(\+dirty)?$`)

// buildVersion reads the build's version from its embedded build
// information: the module version when it was built as a module
// (go install ...@v0.2.0, a build of a tagged commit), else server.Version; the git revision go build
// stamps (vcs.revision, vcs.modified).
func buildVersion(info *debug.BuildInfo, ok bool) versionInfo {
	v := versionInfo{Version: server.Version, Go: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if !ok || info == nil {
		v.Note = "no build information"
		return v
	}
	if mv := info.Main.Version; mv != "" && mv != "(devel)" && !pseudoVersionRE.MatchString(mv) {
		v.Version = mv
	}
	if info.GoVersion != "" {
		v.Go = info.GoVersion
	}
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			v.Revision = s.Value
		case "vcs.modified":
			v.Modified, _ = strconv.ParseBool(s.Value)
		}
	}
	if v.Revision == "" {
		v.Note = "built without VCS information"
	}
	return v
}

// versionString is the one line `weir version` and `weir --version` print.
func versionString(info *debug.BuildInfo, ok bool) string {
	v := buildVersion(info, ok)
	rev := "revision unknown: " + v.Note
	if v.Revision != "" {
		rev = "revision " + v.Revision
		if v.Modified {
			rev += ", modified"
		}
	}
	return fmt.Sprintf("weir %s (%s) %s %s\n", v.Version, rev, v.Go, v.Platform)
}

func newVersion(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the CLI's version and the git revision it was built from",
		Long: `Print the CLI's version and the git revision it was built from (go build
and go install stamp it; go run and go test builds may carry none, and say so).
Formats: table (one line, as --version prints); json and yaml; csv.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			info, ok := debug.ReadBuildInfo()
			v := buildVersion(info, ok)
			line := versionString(info, ok)
			return g.print(view{
				data:    v,
				preface: []string{line[:len(line)-1]},
				csv: [][]string{{"version", "revision", "modified", "go", "platform"},
					{v.Version, v.Revision, strconv.FormatBool(v.Modified), v.Go, v.Platform}},
			})
		},
	}
}
