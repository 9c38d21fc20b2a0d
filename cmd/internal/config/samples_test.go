package config

import (
	"os"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/pelletier/go-toml/v2"
)

// The sample configurations in the repository load, validate, hold every
// key of the configuration structs with its default (except the paths they
// note), and comment every key: a key added to a struct without a sample
// line fails here.
func TestSampleConfigs(t *testing.T) {
	t.Run("broker", func(t *testing.T) {
		got := DefaultBroker()
		checkSample(t, "../../weir-broker/broker.toml", &got)
		want := DefaultBroker()
		want.WAL.Path = "./data/broker-101/wal"
		want.TLS = TLS{CAFile: "weir-data/certs/ca.pem", CertFile: "weir-data/certs/broker-101.pem", KeyFile: "weir-data/certs/broker-101-key.pem"}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("broker.toml strays from the defaults:\n got %+v\nwant %+v", got, want)
		}
		if err := got.Validate(); err != nil {
			t.Error(err)
		}
	})
	t.Run("controller", func(t *testing.T) {
		got := DefaultController()
		checkSample(t, "../../weir-controller/controller.toml", &got)
		want := DefaultController()
		want.Controller.DataDir = "./data/controller-1"
		want.TLS = TLS{CAFile: "weir-data/certs/ca.pem", CertFile: "weir-data/certs/controller-1.pem", KeyFile: "weir-data/certs/controller-1-key.pem"}
		// Empty lists in the file stand for the defaults' nil lists.
		if len(got.Admin.PeerURLs) == 0 && len(want.Admin.PeerURLs) == 0 {
			got.Admin.PeerURLs, want.Admin.PeerURLs = nil, nil
		}
		if len(got.Admin.RateLimiting.TrustedProxies) == 0 && len(want.Admin.RateLimiting.TrustedProxies) == 0 {
			got.Admin.RateLimiting.TrustedProxies, want.Admin.RateLimiting.TrustedProxies = nil, nil
		}
		if len(got.Admin.AllowedOrigins) == 0 && len(want.Admin.AllowedOrigins) == 0 {
			got.Admin.AllowedOrigins, want.Admin.AllowedOrigins = nil, nil
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("controller.toml strays from the defaults:\n got %+v\nwant %+v", got, want)
		}
		if err := got.Validate(); err != nil {
			t.Error(err)
		}
	})
}

var keyLine = regexp.MustCompile(`^([A-Za-z0-9_]+)\s*=`)

// checkSample loads path into dst and checks that it sets every leaf key of
// dst's type and that every key line sits in a block opened by a comment.
func checkSample(t *testing.T, path string, dst any) {
	t.Helper()
	if err := Load(path, dst, nil); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := toml.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	_ = walk(reflect.ValueOf(dst).Elem(), nil, func(key []string, _ reflect.Value, _ string) error {
		if !has(doc, key) {
			t.Errorf("%s lacks key %s", path, strings.Join(key, "."))
		}
		return nil
	})
	commented := false
	for i, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		switch {
		case line == "" || strings.HasPrefix(line, "["):
			commented = false
		case strings.HasPrefix(line, "#"):
			commented = true
		case keyLine.MatchString(line) && !commented:
			t.Errorf("%s:%d: key %s has no comment above it", path, i+1, keyLine.FindStringSubmatch(line)[1])
		}
	}
}

func has(doc map[string]any, key []string) bool {
	v, ok := doc[key[0]]
	if !ok {
		return false
	}
	if len(key) == 1 {
		return true
	}
	sub, ok := v.(map[string]any)
	return ok && has(sub, key[1:])
}
