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
	"os"
	"reflect"
	"strconv"
	"strings"

	"github.com/pelletier/go-toml/v2"
)

// Load reads path (if not empty) into dst, which holds defaults, then applies
// WEIR_* overrides from env (os.Environ() form).
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

func decode(path string, data []byte, dst any) error {
	dec := toml.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	err := dec.Decode(dst)
	var strict *toml.StrictMissingError
	if errors.As(err, &strict) {
		var keys []string
		for _, e := range strict.Errors {
			keys = append(keys, strings.Join(e.Key(), "."))
		}
		return fmt.Errorf("config: %s: unknown key %s", path, strings.Join(keys, ", "))
	}
	var de *toml.DecodeError
	if errors.As(err, &de) {
		row, col := de.Position()
		return fmt.Errorf("config: %s:%d:%d: %s (key %s)", path, row, col, de.Error(), strings.Join(de.Key(), "."))
	}
	if err != nil {
		return fmt.Errorf("config: %s: %w", path, err)
	}
	return nil
}

// applyEnv sets every leaf field whose WEIR_ variable is present.
func applyEnv(dst any, env []string) error {
	vars := map[string]string{}
	for _, kv := range env {
		if k, v, ok := strings.Cut(kv, "="); ok && strings.HasPrefix(k, "WEIR_") {
			vars[k] = v
		}
	}
	return walk(reflect.ValueOf(dst).Elem(), nil, func(key []string, v reflect.Value, alias string) error {
		name := "WEIR_" + strings.ToUpper(strings.Join(key, "_"))
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
}

// walk visits every leaf field with its TOML key path and the extra
// environment variable name its `env` tag gives (the reference spells some
// overrides without their section, e.g. WEIR_ADMIN_GLOBAL_BURST_SIZE).
func walk(v reflect.Value, key []string, fn func([]string, reflect.Value, string) error) error {
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := strings.Split(f.Tag.Get("toml"), ",")[0]
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
