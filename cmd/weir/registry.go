package main

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/weirmq/weir/net/pki"
)

// The cluster's certificate registry, through the admin API: certs issue,
// renew and rotate register what they make (POST /api/v1/certs), certs
// register registers a certificate file later, and certs list --registry
// lists the registry (GET /api/v1/certs).

// registryResult says what the cluster's registry made of a new
// certificate, for issue's output.
type registryResult struct {
	Registered bool   `json:"registered"`
	Message    string `json:"message"`
}

// registerBody is POST /api/v1/certs' body.
func registerBody(rec pki.Record, rotated bool) map[string]any {
	b := map[string]any{"serial": rec.Serial, "principal": rec.Principal, "role": string(rec.Role)}
	if !rec.NotAfter.IsZero() {
		b["not_after"] = rec.NotAfter.UTC().Format(time.RFC3339)
	}
	if rec.Replaces != "" {
		b["replaces"], b["rotated"] = rec.Replaces, rotated
	}
	return b
}

// register tells the cluster's registry about a certificate (unless
// localOnly) and says how it went. It never fails the command that made the
// certificate: the files are written and valid whatever the cluster says,
// so a failure is reported (on stderr too, so json output does not hide
// it) with the command that registers it later.
// rotated says a certificate replacing another (rec.Replaces) has a new key
// pair, for the audit log's certificate_rotated (else certificate_renewed).
func (g *globals) register(rec pki.Record, rotated bool, certPath string, localOnly bool) registryResult {
	later := fmt.Sprintf("weir certs register %s --api-url %s", certPath, g.apiURL)
	if localOnly {
		return registryResult{Message: fmt.Sprintf("not registered in the cluster's registry (--local-only); to register it: %s", later)}
	}
	err := g.api(http.MethodPost, "/api/v1/certs", registerBody(rec, rotated), nil)
	var ae *apiError
	switch {
	case err == nil:
		return registryResult{Registered: true, Message: fmt.Sprintf("registered in the cluster's certificate registry (%s)", g.apiURL)}
	case errors.As(err, &ae) && ae.status == http.StatusBadRequest && strings.Contains(ae.msg, "registered already"):
		return registryResult{Registered: true, Message: fmt.Sprintf("already in the cluster's certificate registry (%s)", g.apiURL)}
	}
	msg := fmt.Sprintf("NOT registered in the cluster's certificate registry: %v; the certificate is written and valid. Register it when the admin API is reachable: %s (or pass --local-only to skip the registry)", firstLine(err), later)
	fmt.Fprintln(os.Stderr, "warning: "+msg)
	return registryResult{Message: msg}
}

func firstLine(err error) string {
	s, _, _ := strings.Cut(err.Error(), "\n")
	return s
}

func newCertsRegister(g *globals) *cobra.Command {
	var certFile string
	cmd := &cobra.Command{
		Use:   "register FILE|--cert FILE",
		Short: "Register a certificate file in the cluster's certificate registry",
		Long: `Register the certificate in FILE (its serial, principal, role and expiry) in
the cluster's certificate registry through the admin API (POST
/api/v1/certs). certs issue, renew and rotate do it themselves; this is for
a certificate made with --local-only, or while the cluster was unreachable.
Registering a certificate that is registered already changes nothing.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				if certFile != "" {
					return errors.New("give the certificate as an argument or --cert, not both")
				}
				certFile = args[0]
			}
			c, err := readLeaf(certFile)
			if err != nil {
				return err
			}
			rec := pki.RecordOf(c)
			err = g.api(http.MethodPost, "/api/v1/certs", registerBody(rec, false), nil)
			what := "registered"
			if ae, ok := errors.AsType[*apiError](err); ok && ae.status == http.StatusBadRequest && strings.Contains(ae.msg, "registered already") {
				err, what = nil, "was registered already"
			}
			if err != nil {
				return fmt.Errorf("certificate %s (%s) not registered: %w", rec.Serial, rec.Principal, err)
			}
			return g.print(view{data: rec,
				preface: []string{fmt.Sprintf("certificate %s (%s) %s in the cluster's certificate registry", rec.Serial, rec.Principal, what)},
				csv:     [][]string{{"serial", "principal", "role", "not_after"}, {rec.Serial, rec.Principal, string(rec.Role), rec.NotAfter.Format(time.RFC3339)}}})
		},
	}
	cmd.Flags().StringVar(&certFile, "cert", "", "the certificate file (PEM)")
	return cmd
}

// registryCert is one record of GET /api/v1/certs.
type registryCert struct {
	Serial      string `json:"serial"`
	Principal   string `json:"principal,omitempty"`
	Role        string `json:"role,omitempty"`
	NotAfterMs  int64  `json:"not_after_ms,omitempty"`
	Revoked     bool   `json:"revoked,omitempty"`
	Reason      string `json:"reason,omitempty"`
	RevokedAtMs int64  `json:"revoked_at_ms,omitempty"`
	Status      string `json:"status"`
	NotAfter    string `json:"not_after,omitempty"`
	RevokedAt   string `json:"revoked_at,omitempty"`
}

// registryPage is GET /api/v1/certs' data.
type registryPage struct {
	RevokedVersion uint64         `json:"revoked_version"`
	Count          int            `json:"count"`
	Total          int            `json:"total"`
	NextAfter      *string        `json:"next_after"`
	Certificates   []registryCert `json:"certificates"`
}

// registryPagesMax bounds the pages certs list --registry reads (the
// registry holds at most 100,000 certificates, 10,000 a page).
const registryPagesMax = 20

// listRegistry reads every page of GET /api/v1/certs with q.
func (g *globals) listRegistry(q url.Values) ([]registryCert, error) {
	q.Set("limit", "10000")
	var out []registryCert
	for range registryPagesMax {
		var p registryPage
		if err := g.api(http.MethodGet, "/api/v1/certs?"+q.Encode(), nil, &p); err != nil {
			return nil, err
		}
		out = append(out, p.Certificates...)
		if p.NextAfter == nil {
			return out, nil
		}
		q.Set("after", *p.NextAfter)
	}
	return nil, fmt.Errorf("the registry at %s has more than %d pages of certificates", g.apiURL, registryPagesMax)
}

// certsListRegistry is certs list --registry.
func (g *globals) certsListRegistry(status, role, principal string, within time.Duration) error {
	q := url.Values{}
	switch status {
	case "":
	case "active", "revoked", "expired":
		q.Set("status", status)
	default:
		return fmt.Errorf("--status %q: the registry knows active, revoked and expired", status)
	}
	if principal != "" {
		q.Set("principal", principal)
	}
	if within < 0 {
		return fmt.Errorf("--expiring-within %v: want a positive duration (720h is 30 days)", within)
	}
	if within > 0 {
		q.Set("expiring_within", within.String())
	}
	if role != "" {
		r, err := pki.ParseRole(role)
		if err != nil {
			return fmt.Errorf("--role: %w", err)
		}
		role = string(r)
	}
	all, err := g.listRegistry(q)
	if err != nil {
		return fmt.Errorf("%w\nhint: the registry is read through the admin API (--api-url, now %s); `weir certs list --ca-dir CA` reads a CA directory's local index instead", err, g.apiURL)
	}
	sel := slices.DeleteFunc(all, func(c registryCert) bool { return role != "" && c.Role != role })
	if sel == nil {
		sel = []registryCert{}
	}
	now := time.Now()
	v := view{data: sel, table: table{header: []string{"SERIAL", "PRINCIPAL", "ROLE", "STATUS", "NOT-AFTER", "EXPIRES-IN", "REVOKED"}},
		csv: [][]string{{"serial", "principal", "role", "status", "not_after", "revocation_reason", "revoked_at"}}}
	for _, c := range sel {
		expires, revoked := "-", "-"
		if c.NotAfterMs != 0 {
			expires = expiresIn(time.UnixMilli(c.NotAfterMs), now)
		}
		if c.Revoked {
			revoked = c.Reason + " at " + c.RevokedAt
		}
		v.table.rows = append(v.table.rows, []string{c.Serial, dash(c.Principal), dash(c.Role), c.Status, dash(c.NotAfter), expires, revoked})
		v.csv = append(v.csv, []string{c.Serial, c.Principal, c.Role, c.Status, c.NotAfter, c.Reason, c.RevokedAt})
	}
	v.table.paint = paintStatus(func(row int) pki.Status { return pki.Status(sel[row].Status) }, 3)
	if len(sel) == 0 {
		v.table = table{}
		v.preface = []string{fmt.Sprintf("no certificates in the cluster's registry (%s) match", g.apiURL)}
	}
	return g.print(v)
}
