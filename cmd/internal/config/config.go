// Package config loads broker and controller configuration: TOML files with
// the reference's sections and keys, each key overridable by an environment
// variable WEIR_<SECTION>_<KEY> (WEIR_WAL_PATH, WEIR_REPLICATION_MIN_IN_SYNC_REPLICAS,
// WEIR_NETWORK_QUIC_CONFIG_MAX_IDLE_TIMEOUT_MS). Unknown keys and bad values
// are rejected at start, naming the key.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/pelletier/go-toml/v2"
)

// Load reads path (if not empty) into dst, which holds defaults, then applies
// WEIR_* overrides from env (os.Environ() form). A WEIR_ variable that names
// no key of dst is refused, as an unknown TOML key is, unless it is one of
// the variables other Weir tools read (OtherVariables).
func Load(path string, dst any, env []string) error {
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("config: %w", err)
		}
		if err := decode(path, data, dst); err != nil {
			return err
		}
	}
	return applyEnv(dst, env)
}

// OtherVariables are WEIR_ variables that are not configuration keys: the
// CLI's defaults and the test harnesses' knobs. Brokers and controllers
// ignore them (a shell that sets them for the CLI may start servers too).
var OtherVariables = map[string]bool{
	"WEIR_API_URL": true, "WEIR_BOOTSTRAP": true, "WEIR_DATA": true,
	"WEIR_SIM_SEED": true, "WEIR_SIM_SEEDS": true, "WEIR_SIM_SAVE": true, "WEIR_ITEST_KEEP": true,
}

// unsupported are keys of the reference's configuration that Weir does not
// implement; naming why beats a bare "unknown key".
var unsupported = map[string]string{
	"network.quic_listen":                             "controllers listen on controller.rpc_listen (brokers and clients) and controller.raft_listen (peers)",
	"network.rpc_listen":                              "Weir carries every message over QUIC on network.quic_listen",
	"network.connection_timeout_ms":                   "the QUIC handshake timeout is fixed; use network.quic_config.max_idle_timeout_ms for idle connections",
	"network.quic_config.max_concurrent_uni_streams":  "Weir uses one stream per direction per connection",
	"network.quic_config.max_concurrent_bidi_streams": "Weir uses one stream per direction per connection",
	"wal.buffer_size":                                 "the WAL groups appends itself (group commit)",
	"cache.eviction_policy":                           "the write cache always evicts the oldest batches first",
	"controller.election_timeout_ms":                  "brokers do not elect controllers; set raft.election_timeout_ms on the controllers",
	"object_storage.access_key":                       "GCS credentials come from Application Default Credentials (GOOGLE_APPLICATION_CREDENTIALS), not from the configuration",
	"object_storage.secret_key":                       "GCS credentials come from Application Default Credentials (GOOGLE_APPLICATION_CREDENTIALS), not from the configuration",
}

func decode(path string, data []byte, dst any) error {
	dec := toml.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	err := dec.Decode(dst)
	var strict *toml.StrictMissingError
	if errors.As(err, &strict) {
		var msgs []string
		for _, e := range strict.Errors {
			row, col := e.Position()
			key := strings.Join(e.Key(), ".")
			msg := fmt.Sprintf("%s:%d:%d: unknown key %s", path, row, col, key)
			if why, ok := unsupported[key]; ok {
				msg += " (a key of the reference that Weir does not implement: " + why + "; remove it)"
			}
			msgs = append(msgs, msg)
		}
		return fmt.Errorf("config: %s", strings.Join(msgs, "\n  "))
	}
	var de *toml.DecodeError
	if errors.As(err, &de) {
		row, col := de.Position()
		where := fmt.Sprintf("%s:%d:%d", path, row, col)
		if len(de.Key()) == 0 {
			return fmt.Errorf("config: %s: %s", where, strings.TrimPrefix(de.Error(), "toml: "))
		}
		return fmt.Errorf("config: %s: key %s: %s", where, strings.Join(de.Key(), "."), typeProblem(dst, de, valueAt(data, row, col)))
	}
	if err != nil {
		return fmt.Errorf("config: %s: %w", path, err)
	}
	return nil
}

// tomlKind matches go-toml's "cannot decode TOML <kind> into ..." message.
var tomlKind = regexp.MustCompile(`TOML ([a-z ]+?) into`)

// typeProblem says, in TOML's terms, what key wants and what it got; the
// decoder's own message names Go types (config.WAL.CapacityBytes of type
// int64), which mean nothing to whoever wrote the file.
func typeProblem(dst any, de *toml.DecodeError, got string) string {
	want := "a value of another type"
	if f, ok := fieldAt(reflect.TypeOf(dst).Elem(), de.Key()); ok {
		want = tomlType(f)
	}
	kind := ""
	if m := tomlKind.FindStringSubmatch(de.Error()); m != nil {
		kind = m[1] + " "
	}
	if got == "" {
		return "want " + want
	}
	return fmt.Sprintf("want %s, got %s%s", want, kind, got)
}

// fieldAt finds the field a TOML key path decodes into.
func fieldAt(t reflect.Type, key []string) (reflect.Type, bool) {
	for _, k := range key {
		if t.Kind() == reflect.Map {
			t = t.Elem()
			continue
		}
		if t.Kind() != reflect.Struct {
			return nil, false
		}
		f, ok := fieldNamed(t, k)
		if !ok {
			return nil, false
		}
		t = f
	}
	return t, true
}

// fieldNamed finds the field of struct t with TOML key k, looking into
// embedded structs as the decoder does.
func fieldNamed(t reflect.Type, k string) (reflect.Type, bool) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := strings.Split(f.Tag.Get("toml"), ",")[0]
		if tag == k {
			return f.Type, true
		}
		if f.Anonymous && tag == "" && f.Type.Kind() == reflect.Struct {
			if ft, ok := fieldNamed(f.Type, k); ok {
				return ft, true
			}
		}
	}
	return nil, false
}

// tomlType names a Go field type as TOML would.
func tomlType(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int32, reflect.Int64:
		return "an integer"
	case reflect.Uint, reflect.Uint32, reflect.Uint64:
		return "a non-negative integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice:
		return "an array of " + strings.TrimPrefix(strings.TrimPrefix(tomlType(t.Elem()), "a "), "an ") + "s"
	case reflect.Struct, reflect.Map:
		return "a table"
	}
	return t.Kind().String()
}

// valueAt is the text from (row, col), 1-based, to the end of its line,
// without a trailing comment: the value the decoder refused.
func valueAt(data []byte, row, col int) string {
	lines := strings.Split(string(data), "\n")
	if row < 1 || row > len(lines) {
		return ""
	}
	line := lines[row-1]
	if col < 1 || col > len(line) {
		return ""
	}
	v := line[col-1:]
	if i := strings.Index(v, " #"); i >= 0 {
		v = v[:i]
	}
	return strings.TrimSpace(v)
}

// applyEnv sets every leaf field whose WEIR_ variable is present and
// refuses WEIR_ variables that name no field.
func applyEnv(dst any, env []string) error {
	vars := map[string]string{}
	for _, kv := range env {
		if k, v, ok := strings.Cut(kv, "="); ok && strings.HasPrefix(k, "WEIR_") {
			vars[k] = v
		}
	}
	used := map[string]bool{}
	err := walk(reflect.ValueOf(dst).Elem(), nil, func(key []string, v reflect.Value, alias string) error {
		name := "WEIR_" + strings.ToUpper(strings.Join(key, "_"))
		used[name] = true
		if alias != "" {
			used[alias] = true
		}
		s, ok := vars[name]
		if !ok && alias != "" {
			name = alias
			s, ok = vars[name]
		}
		if !ok {
			return nil
		}
		if err := setString(v, s); err != nil {
			return fmt.Errorf("config: %s (key %s): %v", name, strings.Join(key, "."), err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	var unknown []string
	for _, name := range slices.Sorted(maps.Keys(vars)) {
		if !used[name] && !OtherVariables[name] {
			unknown = append(unknown, name)
		}
	}
	if len(unknown) > 0 {
		return fmt.Errorf("config: unknown environment variable %s: no %s key has that name (WEIR_<SECTION>_<KEY>, e.g. %s)",
			strings.Join(unknown, ", "), roleOf(dst), exampleVar(dst))
	}
	return nil
}

// roleOf names what dst configures, for messages.
func roleOf(dst any) string {
	switch dst.(type) {
	case *Broker:
		return "broker"
	case *Controller:
		return "controller"
	}
	return "configuration"
}

func exampleVar(dst any) string {
	if _, ok := dst.(*Controller); ok {
		return "WEIR_CONTROLLER_NODE_ID"
	}
	return "WEIR_WAL_PATH"
}

// walk visits every leaf field with its TOML key path and the extra
// environment variable name its `env` tag gives (the reference spells some
// overrides without their section, e.g. WEIR_ADMIN_GLOBAL_BURST_SIZE).
func walk(v reflect.Value, key []string, fn func([]string, reflect.Value, string) error) error {
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := strings.Split(f.Tag.Get("toml"), ",")[0]
		if f.Anonymous && tag == "" && f.Type.Kind() == reflect.Struct {
			if err := walk(v.Field(i), key, fn); err != nil { // promoted fields, as TOML sees them
				return err
			}
			continue
		}
		if tag == "" || tag == "-" {
			continue
		}
		path := append(append([]string(nil), key...), tag)
		fv := v.Field(i)
		if fv.Kind() == reflect.Struct {
			if err := walk(fv, path, fn); err != nil {
				return err
			}
			continue
		}
		if fv.Kind() == reflect.Map {
			continue // tables of tables are set in TOML only
		}
		if err := fn(path, fv, f.Tag.Get("env")); err != nil {
			return err
		}
	}
	return nil
}

func setString(v reflect.Value, s string) error {
	switch v.Kind() {
	case reflect.String:
		v.SetString(s)
	case reflect.Bool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return fmt.Errorf("want true or false, got %q", s)
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int32, reflect.Int64:
		n, err := strconv.ParseInt(s, 10, v.Type().Bits())
		if err != nil {
			return fmt.Errorf("want an integer, got %q", s)
		}
		v.SetInt(n)
	case reflect.Uint, reflect.Uint32, reflect.Uint64:
		n, err := strconv.ParseUint(s, 10, v.Type().Bits())
		if err != nil {
			return fmt.Errorf("want a non-negative integer, got %q", s)
		}
		v.SetUint(n)
	case reflect.Float64:
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return fmt.Errorf("want a number, got %q", s)
		}
		v.SetFloat(f)
	case reflect.Slice:
		if v.Type().Elem().Kind() != reflect.String {
			return fmt.Errorf("unsupported list type %v", v.Type())
		}
		var parts []string
		for _, p := range strings.Split(s, ",") {
			if p = strings.TrimSpace(p); p != "" {
				parts = append(parts, p)
			}
		}
		v.Set(reflect.ValueOf(parts))
	default:
		return fmt.Errorf("unsupported type %v", v.Type())
	}
	return nil
}

// Problems collects validation failures, each naming its key.
type Problems []string

// Add records a problem with key when bad.
func (p *Problems) Add(bad bool, key, format string, args ...any) {
	if bad {
		*p = append(*p, key+": "+fmt.Sprintf(format, args...))
	}
}

// Err joins the problems into one error, or nil.
func (p Problems) Err(what string) error {
	if len(p) == 0 {
		return nil
	}
	return fmt.Errorf("config: invalid %s configuration:\n  %s", what, strings.Join(p, "\n  "))
}
