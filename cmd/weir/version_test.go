package main

import (
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
)

// Goal: `weir version` and `weir --version` print the build's version and
// git revision, and say so plainly when the build carries no revision
// (go test, go run without VCS stamping).
func TestVersion(t *testing.T) {
	for _, args := range [][]string{{"version"}, {"--version"}} {
		out, err := run(t, "", args...)
		if err != nil || !strings.HasPrefix(out, "weir ") || !strings.Contains(out, "revision ") || !strings.HasSuffix(out, "\n") {
			t.Errorf("weir %s: %q %v", args[0], out, err)
		}
	}
	info := &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: "github.com/weirmq/weir", Version: "v0.2.0"},
		Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "0123456789abcdef0123456789abcdef01234567"}, {Key: "vcs.modified", Value: "true"}}}
	platform := runtime.GOOS + "/" + runtime.GOARCH
	for _, tc := range []struct {
		info *debug.BuildInfo
		ok   bool
		want string
	}{
		{info, true, "weir v0.2.0 (revision 0123456789abcdef0123456789abcdef01234567, modified) go1.26.8 " + platform + "\n"},
		{&debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}}, true, "weir 0.1.0-dev (revision unknown: built without VCS information) go1.26.8 " + platform + "\n"},
		{&debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v0.0.0-20261202184209-e6f7fed73acc+dirty"},
			Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "e6f7fed73acc26961541e7b1529392f55f4e6bbc"}, {Key: "vcs.modified", Value: "false"}}},
			true, "weir 0.1.0-dev (revision e6f7fed73acc26961541e7b1529392f55f4e6bbc) go1.26.8 " + platform + "\n"},
		{nil, false, "weir 0.1.0-dev (revision unknown: no build information) go"},
	} {
		got := versionString(tc.info, tc.ok)
		if !strings.HasPrefix(got, tc.want) || !strings.HasSuffix(got, "\n") {
			t.Errorf("versionString = %q, want prefix %q and one line", got, tc.want)
		}
	}
	out, err := run(t, "", "version", "--format", "json")
	var v versionInfo
	if err != nil {
		t.Fatal(err)
	}
	parseJSON(t, out, &v)
	if v.Version == "" || v.Go == "" {
		t.Errorf("version --format json: %+v", v)
	}
}
