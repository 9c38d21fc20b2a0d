package main

import (
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/weirmq/weir/net/pki"
)

// The certificate commands: ca (root and intermediate CAs in a directory)
// and certs (issue, renew, rotate, validate, status, expiring on files, and
// list and revoke against the CA directory's local index). They run here,
// in the CLI process, with net/pki: key generation and signing need the
// CA's private key, which never leaves its directory.
//
// The controller's certificate registry (serials, status and revocations
// through raft, enforced at every broker's and controller's handshake) is
// told through the admin API: issue, renew and rotate register what they
// make (registry.go), revoke revokes there. Every certificate this CLI
// issues with --ca-dir D is also recorded in D/issued.json, which `certs
// list --ca-dir D` reads; `certs revoke` marks it there and writes
// D/crl.pem, which `certs validate --ca-dir D` honours.

// Local CA index and CRL file names in a CA directory.
const (
	indexFile = "issued.json"
	crlFile   = "crl.pem"
)

func newCA(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "ca",
		Short: "Certificate authorities: init, intermediate, list",
		Long: `Make and list certificate authorities. A CA directory (mode 0700) holds
ca.pem (the CA certificate: for a root, every node's trust root), ca-key.pem
(its private key, mode 0600) and, for an intermediate, chain.pem (the CAs
above it). Keys never leave the directory; files are never overwritten.`,
	}
	cmd.AddCommand(newCAInit(g), newCAIntermediate(g), newCAList(g))
	return cmd
}

// caOptionFlags are the subject and validity flags of ca init and ca
// intermediate.
type caOptionFlags struct {
	cn       string
	org      []string
	country  []string
	validity time.Duration
	keyAlg   string
	pathLen  int
}

func (c *caOptionFlags) add(cmd *cobra.Command, cn string, validity time.Duration) {
	f := cmd.Flags()
	f.StringVar(&c.cn, "cn", cn, "the CA's common name")
	f.StringSliceVar(&c.org, "org", nil, "organization (repeatable)")
	f.StringSliceVar(&c.country, "country", nil, "country code (repeatable)")
	f.DurationVar(&c.validity, "validity", validity, "how long the CA is valid")
	f.StringVar(&c.keyAlg, "key-algorithm", "ecdsa-p256", "ecdsa-p256, ecdsa-p384, ed25519, rsa-2048, rsa-3072 or rsa-4096")
}

func (c *caOptionFlags) options() (pki.CAOptions, error) {
	alg, err := pki.ParseKeyAlgorithm(c.keyAlg)
	if err != nil {
		return pki.CAOptions{}, fmt.Errorf("--key-algorithm: %w", err)
	}
	if c.validity <= 0 {
		return pki.CAOptions{}, fmt.Errorf("--validity %v: want a positive duration (87600h is 10 years)", c.validity)
	}
	return pki.CAOptions{CommonName: c.cn, Organization: c.org, Country: c.country, Validity: c.validity, KeyAlgorithm: alg, PathLen: c.pathLen}, nil
}

// caOutput is ca init's and ca intermediate's json and yaml.
type caOutput struct {
	Dir    string     `json:"dir"`
	Type   string     `json:"type"` // root or intermediate
	Record pki.Record `json:"record"`
	Files  []string   `json:"files"`
}

// caView renders a CA made by ca init or ca intermediate.
func caView(dir string, ca *pki.CA, what string) view {
	rec := ca.Record()
	files := []string{filepath.Join(dir, pki.CAFile), filepath.Join(dir, pki.CAKeyFile)}
	if !ca.IsRoot() {
		files = append(files, filepath.Join(dir, pki.ChainFile))
	}
	rows := [][]string{
		{"subject", rec.Subject},
		{"issuer", rec.Issuer},
		{"serial", rec.Serial},
		{"key algorithm", rec.KeyAlgorithm},
		{"not after", rec.NotAfter.Format(time.RFC3339)},
		{"fingerprint (sha256)", rec.Fingerprint},
		{"files", strings.Join(files, ", ")},
	}
	return view{
		data:    caOutput{Dir: dir, Type: caType(ca.IsRoot()), Record: rec, Files: files},
		preface: []string{fmt.Sprintf("%s CA %q created in %s", what, ca.Cert.Subject.CommonName, dir)},
		table:   table{rows: rows, keys: true},
		csv:     [][]string{{"dir", "type", "subject", "serial", "not_after", "fingerprint_sha256"}, {dir, caType(ca.IsRoot()), rec.Subject, rec.Serial, rec.NotAfter.Format(time.RFC3339), rec.Fingerprint}},
	}
}

func caType(root bool) string {
	if root {
		return "root"
	}
	return "intermediate"
}

// pkiHint adds the next step to a CA file error.
func pkiHint(err error, dir string) error {
	switch {
	case errors.Is(err, fs.ErrExist):
		return fmt.Errorf("%w\nhint: %s already holds a CA; it is never overwritten (certificates it issued would stop verifying): pick another --dir", err, dir)
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("%w\nhint: make the CA first: weir ca init --dir %s", err, dir)
	}
	return err
}

func newCAInit(g *globals) *cobra.Command {
	var dir string
	var years int
	var o caOptionFlags
	cmd := &cobra.Command{
		Use:   "init --dir DIR [--cn NAME] [--org O] [--country C] [--validity 87600h]",
		Short: "Make a root CA in a directory",
		Long: `Make a self-signed root CA and write ca.pem and ca-key.pem (0600) into --dir
(created 0700). It refuses a directory that already holds a CA. Its ca.pem is
what every node and client trusts; issue certificates from it, or from an
intermediate (weir ca intermediate), with weir certs issue.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if dir == "" {
				return errors.New("--dir is required: the directory to write the CA into")
			}
			if cmd.Flags().Changed("validity-years") {
				if years <= 0 || years > 100 {
					return fmt.Errorf("--validity-years %d: want 1..100", years)
				}
				o.validity = time.Duration(years) * 365 * 24 * time.Hour
			}
			opts, err := o.options()
			if err != nil {
				return err
			}
			ca, err := pki.InitRoot(dir, opts)
			if err != nil {
				return pkiHint(err, dir)
			}
			return g.print(caView(dir, ca, "root"))
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "", "directory to write the CA into")
	o.add(cmd, "Weir Root CA", pki.RootValidity)
	cmd.Flags().IntVar(&years, "validity-years", 0, "validity in years of 365 days (instead of --validity)")
	cmd.Flags().IntVar(&o.pathLen, "path-len", 0, "how many intermediate CAs may follow in a chain (0: the default, 1; -1: none)")
	return cmd
}

func newCAIntermediate(g *globals) *cobra.Command {
	var dir, parent string
	var o caOptionFlags
	cmd := &cobra.Command{
		Use:   "intermediate --dir DIR --root-dir PARENT [--cn NAME] [--validity 43800h]",
		Short: "Make an intermediate CA signed by another CA",
		Long: `Make an intermediate CA signed by the CA in --root-dir (a root, or an
intermediate allowed to sign CAs) and write ca.pem, ca-key.pem and chain.pem
into --dir. Certificates it issues verify against the root's ca.pem.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if dir == "" || parent == "" {
				return errors.New("--dir and --root-dir are required\nhint: weir ca intermediate --dir ca/clients --root-dir ca/root --cn 'Weir Clients CA'")
			}
			opts, err := o.options()
			if err != nil {
				return err
			}
			p, err := pki.LoadCA(parent)
			if err != nil {
				return pkiHint(fmt.Errorf("loading the parent CA: %w", err), parent)
			}
			ca, err := p.InitIntermediate(dir, opts)
			if err != nil {
				return pkiHint(err, dir)
			}
			return g.print(caView(dir, ca, "intermediate"))
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "", "directory to write the intermediate CA into")
	cmd.Flags().StringVar(&parent, "root-dir", "", "directory of the signing CA")
	cmd.Flags().StringVar(&parent, "parent-dir", "", "same as --root-dir")
	o.add(cmd, "Weir Intermediate CA", pki.IntermediateValidity)
	return cmd
}

// caEntry is one CA ca list found.
type caEntry struct {
	Dir       string     `json:"dir"`
	Type      string     `json:"type"`
	Status    pki.Status `json:"status"`
	ExpiresIn string     `json:"expires_in"`
	Record    pki.Record `json:"record"`
}

func newCAList(g *globals) *cobra.Command {
	var dir, status string
	cmd := &cobra.Command{
		Use:   "list --dir DIR [--status active|expired|not-yet-valid]",
		Short: "List the CAs in a directory and its subdirectories",
		Long: `List the CA in --dir and those in its immediate subdirectories (each a
directory with ca.pem). Formats: table; json and yaml (each CA's directory,
type, status and record); csv.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if dir == "" {
				return errors.New("--dir is required: the CA directory, or a directory of CA directories")
			}
			var want pki.Status
			if status != "" {
				s, err := pki.ParseStatus(status)
				if err != nil {
					return fmt.Errorf("--status: %w", err)
				}
				want = s
			}
			dirs := []string{dir}
			ents, err := os.ReadDir(dir)
			if err != nil {
				return fmt.Errorf("reading %s: %w", dir, err)
			}
			for _, e := range ents {
				if e.IsDir() {
					dirs = append(dirs, filepath.Join(dir, e.Name()))
				}
			}
			now := time.Now()
			var out []caEntry
			for _, d := range dirs {
				certs, err := readCertFile(filepath.Join(d, pki.CAFile))
				if errors.Is(err, fs.ErrNotExist) {
					continue
				}
				if err != nil {
					fmt.Fprintf(os.Stderr, "warning: %v\n", err)
					continue
				}
				c := certs[0]
				rec := pki.RecordOf(c)
				st := rec.StatusAt(now)
				if want != "" && st != want {
					continue
				}
				out = append(out, caEntry{Dir: d, Type: caType(c.CheckSignatureFrom(c) == nil && string(c.RawIssuer) == string(c.RawSubject)), Status: st, ExpiresIn: expiresIn(rec.NotAfter, now), Record: rec})
			}
			if out == nil {
				out = []caEntry{}
			}
			v := view{data: out, table: table{header: []string{"DIR", "TYPE", "SUBJECT", "SERIAL", "NOT-AFTER", "STATUS", "EXPIRES-IN"}},
				csv: [][]string{{"dir", "type", "subject", "serial", "not_after", "status", "fingerprint_sha256"}}}
			for _, e := range out {
				v.table.rows = append(v.table.rows, []string{e.Dir, e.Type, e.Record.Subject, e.Record.Serial, e.Record.NotAfter.Format(time.RFC3339), string(e.Status), e.ExpiresIn})
				v.csv = append(v.csv, []string{e.Dir, e.Type, e.Record.Subject, e.Record.Serial, e.Record.NotAfter.Format(time.RFC3339), string(e.Status), e.Record.Fingerprint})
			}
			v.table.paint = paintStatus(func(row int) pki.Status { return out[row].Status }, 5)
			if len(out) == 0 {
				v.table = table{}
				v.preface = []string{fmt.Sprintf("no CA (ca.pem) in %s or its subdirectories\nhint: weir ca init --dir %s", dir, dir)}
			}
			return g.print(v)
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "", "a CA directory, or a directory of them")
	cmd.Flags().StringVar(&status, "status", "", "only CAs with this status: active, expired, not-yet-valid")
	return cmd
}

func paintStatus(status func(row int) pki.Status, col int) func(row, c int) string {
	return func(row, c int) string {
		if c != col {
			return ""
		}
		switch status(row) {
		case pki.StatusActive:
			return sgrGreen
		case pki.StatusRevoked, pki.StatusExpired:
			return sgrRed
		}
		return sgrYellow
	}
}

// expiresIn words how long until t: "335 days", "5h0m0s", "expired 3 days ago".
func expiresIn(t, now time.Time) string {
	d := t.Sub(now)
	word := func(d time.Duration) string {
		if d >= 48*time.Hour {
			return strconv.Itoa(int(d/(24*time.Hour))) + " days"
		}
		return d.Round(time.Minute).String()
	}
	if d < 0 {
		return "expired " + word(-d) + " ago"
	}
	return word(d)
}

// readCertFile reads the certificates of a PEM file.
func readCertFile(path string) ([]*x509.Certificate, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	certs, err := pki.ParseCertificates(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(certs) == 0 {
		return nil, fmt.Errorf("%s holds no certificate", path)
	}
	return certs, nil
}

// ---- certs ----

func newCerts(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "certs",
		Short: "Certificates: issue, renew, rotate, register, validate, status, expiring, list, revoke",
		Long: `Issue and manage certificates with a CA directory (weir ca init). A
certificate names its principal (the subject CN, what ACL rules match) and
its role (broker, controller, client or admin) as the URI SAN weir://role/R.

certs issue, renew and rotate register the new certificate in the cluster's
certificate registry through the admin API (--api-url; --local-only skips
it), certs revoke revokes it there (every broker and controller then
refuses it), and certs list --registry lists the registry. The CA
directory keeps its own index (issued.json, which certs list --ca-dir
reads) and CRL (crl.pem, which certs validate honours).`,
	}
	cmd.AddCommand(newCertsIssue(g), newCertsRenew(g, false), newCertsRenew(g, true), newCertsRegister(g), newCertsValidate(g), newCertsStatus(g),
		newCertsExpiring(g), newCertsList(g), newCertsRevoke(g))
	return cmd
}

// issuedOutput is what issue, renew and rotate print.
type issuedOutput struct {
	Record      pki.Record `json:"record"`
	Certificate string     `json:"certificate"`
	Key         string     `json:"key"`
	CA          string     `json:"ca"`
	Index       string     `json:"index"`
	Note        string     `json:"note,omitempty"`
	// Registry is what the cluster's certificate registry made of it.
	Registry registryResult `json:"registry"`
}

func issuedView(o issuedOutput, what string) view {
	r := o.Record
	rows := [][]string{
		{"principal", r.Principal},
		{"role", dash(string(r.Role))},
		{"subject", r.Subject},
		{"serial", r.Serial},
		{"sans", dash(sansText(r.SANs))},
		{"not before", r.NotBefore.Format(time.RFC3339)},
		{"not after", r.NotAfter.Format(time.RFC3339)},
		{"certificate", o.Certificate},
		{"key", dash(o.Key)},
		{"trust root", o.CA},
	}
	if r.Replaces != "" {
		rows = append(rows, []string{"replaces", r.Replaces})
	}
	pre := []string{fmt.Sprintf("certificate %s %s for %s", r.Serial, what, r.Principal)}
	if o.Note != "" {
		pre = append(pre, o.Note)
	}
	if o.Registry.Message != "" {
		pre = append(pre, o.Registry.Message)
	}
	return view{data: o, preface: pre, table: table{rows: rows, keys: true},
		csv: [][]string{{"serial", "principal", "role", "not_after", "certificate", "key", "replaces", "registered"},
			{r.Serial, r.Principal, string(r.Role), r.NotAfter.Format(time.RFC3339), o.Certificate, o.Key, r.Replaces, strconv.FormatBool(o.Registry.Registered)}}}
}

func sansText(s pki.SANs) string {
	var parts []string
	for _, v := range s.DNS {
		parts = append(parts, "dns:"+v)
	}
	for _, v := range s.IP {
		parts = append(parts, "ip:"+v)
	}
	for _, v := range s.Email {
		parts = append(parts, "email:"+v)
	}
	for _, v := range s.URI {
		parts = append(parts, "uri:"+v)
	}
	return strings.Join(parts, ",")
}

// writeIssued writes the certificate (and key) as name into out, the CA's
// root as out/ca.pem when out has none (so out works as `--certs out
// --cert-name name`), and records it in the CA's index.
func writeIssued(ca *pki.CA, caDir string, is *pki.Issued, out, name string) (issuedOutput, error) {
	if err := os.MkdirAll(out, 0o700); err != nil {
		return issuedOutput{}, fmt.Errorf("--out: %w", err)
	}
	certPath, keyPath, err := is.WriteFiles(out, name)
	if err != nil {
		if errors.Is(err, fs.ErrExist) {
			return issuedOutput{}, fmt.Errorf("%w\nhint: certificates are never overwritten; pass another --name or --out", err)
		}
		return issuedOutput{}, err
	}
	caPath := filepath.Join(out, pki.CAFile)
	if _, err := os.Stat(caPath); errors.Is(err, fs.ErrNotExist) {
		root := ca.Root()
		if err := os.WriteFile(caPath, pemCert(root), 0o644); err != nil {
			return issuedOutput{}, fmt.Errorf("writing the trust root %s: %w", caPath, err)
		}
	}
	rec := is.Record()
	if err := updateIndex(caDir, func(rs []pki.Record) ([]pki.Record, error) { return append(rs, rec), nil }); err != nil {
		return issuedOutput{}, fmt.Errorf("certificate written to %s, but recording it in the CA's index failed: %w", certPath, err)
	}
	return issuedOutput{Record: rec, Certificate: certPath, Key: keyPath, CA: caPath, Index: filepath.Join(caDir, indexFile)}, nil
}

func pemCert(c *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
}

func loadCA(dir string) (*pki.CA, error) {
	if dir == "" {
		return nil, errors.New("--ca-dir is required: the directory of the issuing CA (weir ca init --dir DIR made it)")
	}
	ca, err := pki.LoadCA(dir)
	if err != nil {
		return nil, pkiHint(fmt.Errorf("loading the CA: %w", err), dir)
	}
	return ca, nil
}

func newCertsIssue(g *globals) *cobra.Command {
	var caDir, principal, role, out, name, keyAlg string
	var sans, org, ou []string
	var validity time.Duration
	var days int
	var localOnly bool
	cmd := &cobra.Command{
		Use:   "issue --ca-dir CA --principal P --role client [--san S ...] [--validity 8760h] --out DIR [--local-only]",
		Short: "Issue a certificate with a new key pair",
		Long: `Issue a certificate for --principal in --role, signed by the CA in --ca-dir,
with a new key pair: writes DIR/NAME.pem (the certificate and the issuing
intermediates), DIR/NAME-key.pem (0600) and, if DIR has none, DIR/ca.pem (the
root), so DIR works as 'weir --certs DIR --cert-name NAME'. NAME defaults to
the principal. SANs: dns:, ip:, email:, uri: prefixes, or bare (guessed).

The certificate is registered in the cluster's certificate registry through
the admin API (--api-url, with the admin token of --token-file,
$WEIR_ADMIN_TOKEN or <data>/admin-token), so it can be listed and revoked
cluster-wide; --local-only skips that. When the cluster cannot be reached
the certificate is still issued, and the command says so and how to
register it later (weir certs register FILE).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if principal == "" || out == "" {
				return errors.New("--principal and --out are required\nhint: weir certs issue --ca-dir ca --principal app@example.com --role client --out certs")
			}
			ca, err := loadCA(caDir)
			if err != nil {
				return err
			}
			r, err := pki.ParseRole(role)
			if err != nil {
				return fmt.Errorf("--role: %w", err)
			}
			s, err := pki.ParseSANs(sans)
			if err != nil {
				return fmt.Errorf("--san: %w", err)
			}
			alg, err := pki.ParseKeyAlgorithm(keyAlg)
			if err != nil {
				return fmt.Errorf("--key-algorithm: %w", err)
			}
			if cmd.Flags().Changed("validity-days") {
				if days <= 0 || days > 36500 {
					return fmt.Errorf("--validity-days %d: want 1..36500", days)
				}
				validity = time.Duration(days) * 24 * time.Hour
			}
			if validity <= 0 {
				return fmt.Errorf("--validity %v: want a positive duration (8760h is a year)", validity)
			}
			if name == "" {
				name = principal
			}
			is, err := ca.Issue(pki.IssueRequest{Principal: principal, Role: r, SANs: s, Validity: validity, Organization: org, OrganizationalUnit: ou, KeyAlgorithm: alg})
			if err != nil {
				return err
			}
			o, err := writeIssued(ca, caDir, is, out, name)
			if err != nil {
				return err
			}
			o.Registry = g.register(o.Record, false, o.Certificate, localOnly)
			return g.print(issuedView(o, "issued"))
		},
	}
	f := cmd.Flags()
	f.StringVar(&caDir, "ca-dir", "", "directory of the issuing CA")
	f.StringVar(&principal, "principal", "", "the principal: the subject common name (app@example.com, broker-1)")
	f.StringVar(&role, "role", "client", "broker, controller, client or admin")
	f.StringSliceVar(&sans, "san", nil, "subject alternative name (repeatable): dns:host, ip:10.0.0.5, email:a@b, uri:spiffe://...")
	f.DurationVar(&validity, "validity", pki.CertValidity, "how long the certificate is valid")
	f.IntVar(&days, "validity-days", 0, "validity in days (instead of --validity)")
	f.StringSliceVar(&org, "org", nil, "subject organization (repeatable)")
	f.StringSliceVar(&ou, "ou", nil, "subject organizational unit (repeatable)")
	f.StringVar(&keyAlg, "key-algorithm", "ecdsa-p256", "ecdsa-p256, ecdsa-p384, ed25519, rsa-2048, rsa-3072 or rsa-4096")
	f.StringVar(&out, "out", "", "directory to write the certificate and key into")
	f.StringVar(&name, "name", "", "file name: NAME.pem and NAME-key.pem (default: the principal)")
	f.BoolVar(&localOnly, "local-only", false, "do not register the certificate in the cluster's registry")
	return cmd
}

// readLeaf reads the first certificate of a PEM file: the leaf.
func readLeaf(path string) (*x509.Certificate, error) {
	if path == "" {
		return nil, errors.New("--cert is required: the certificate file")
	}
	certs, err := readCertFile(path)
	if err != nil {
		return nil, err
	}
	return certs[0], nil
}

func newCertsRenew(g *globals, rotate bool) *cobra.Command {
	var caDir, certFile, out, name, keyAlg string
	var validity time.Duration
	var localOnly bool
	use, short, long := "renew", "Renew a certificate: new serial and validity, same key",
		`Renew --cert: a new certificate with a new serial and validity for the same
subject, role, SANs and public key, signed by the CA in --ca-dir. It writes
DIR/NAME.pem; the key stays the old one, and when the old key file
(<cert>-key.pem) is beside the certificate it is copied to DIR/NAME-key.pem.
NAME defaults to the old file's name, so give another --out (or --name).
The new serial is registered in the cluster's certificate registry, as
certs issue does (--local-only skips it).`
	if rotate {
		use, short, long = "rotate", "Rotate a certificate: new key pair, serial and validity",
			`Rotate --cert: a new certificate and a new key pair for the same subject,
role and SANs, signed by the CA in --ca-dir; writes DIR/NAME.pem and
DIR/NAME-key.pem. NAME defaults to the old file's name, so give another
--out (or --name). Revoke the old one (reason superseded) once the holder
uses the new one: weir certs revoke SERIAL --ca-dir CA --reason superseded.
The new serial is registered in the cluster's certificate registry, as
certs issue does (--local-only skips it).`
	}
	cmd := &cobra.Command{
		Use:   use + " --ca-dir CA --cert FILE --out DIR",
		Short: short,
		Long:  long,
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				if certFile != "" {
					return errors.New("give the certificate as an argument or --cert, not both")
				}
				certFile = args[0]
			}
			old, err := readLeaf(certFile)
			if err != nil {
				return err
			}
			if out == "" {
				return errors.New("--out is required: the directory to write the new certificate into")
			}
			ca, err := loadCA(caDir)
			if err != nil {
				return err
			}
			req := pki.RenewRequest{Validity: validity}
			if rotate && keyAlg != "" {
				if req.KeyAlgorithm, err = pki.ParseKeyAlgorithm(keyAlg); err != nil {
					return fmt.Errorf("--key-algorithm: %w", err)
				}
			}
			base := strings.TrimSuffix(filepath.Base(certFile), ".pem")
			if name == "" {
				name = base
			}
			var is *pki.Issued
			if rotate {
				is, err = ca.Rotate(old, req)
			} else {
				is, err = ca.Renew(old, req)
			}
			if err != nil {
				return err
			}
			o, err := writeIssued(ca, caDir, is, out, name)
			if err != nil {
				return err
			}
			if !rotate {
				oldKey := filepath.Join(filepath.Dir(certFile), base+"-key.pem")
				if b, err := os.ReadFile(oldKey); err == nil {
					o.Key = filepath.Join(out, name+"-key.pem")
					if err := writeNew(o.Key, b, 0o600); err != nil {
						return fmt.Errorf("certificate written to %s, but copying its key %s: %w", o.Certificate, oldKey, err)
					}
				} else {
					o.Note = fmt.Sprintf("the key is unchanged: use the old certificate's key with %s", o.Certificate)
				}
			} else {
				o.Note = fmt.Sprintf("revoke the old certificate once it is replaced: weir certs revoke %s --ca-dir %s --reason superseded", o.Record.Replaces, caDir)
			}
			o.Registry = g.register(o.Record, rotate, o.Certificate, localOnly)
			return g.print(issuedView(o, map[bool]string{false: "renewed", true: "rotated"}[rotate]))
		},
	}
	f := cmd.Flags()
	f.StringVar(&caDir, "ca-dir", "", "directory of the CA that issued the certificate")
	f.StringVar(&certFile, "cert", "", "the certificate to renew (PEM)")
	f.StringVar(&out, "out", "", "directory to write the new certificate into")
	f.StringVar(&name, "name", "", "file name of the new certificate (default: the old one's)")
	f.DurationVar(&validity, "validity", 0, "how long the new certificate is valid (default: as long as the old one)")
	f.BoolVar(&localOnly, "local-only", false, "do not register the new certificate in the cluster's registry")
	if rotate {
		f.StringVar(&keyAlg, "key-algorithm", "", "the new key's algorithm (default: the old key's)")
	}
	return cmd
}

// writeNew writes a file that must not exist yet.
func writeNew(path string, data []byte, mode os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// localRevoked reads the CA directory's CRL, if any, checking that the CA
// signed it.
func localRevoked(ca *pki.CA, dir string) (pki.RevokedSet, *pki.CRL, error) {
	b, err := os.ReadFile(filepath.Join(dir, crlFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	crl, err := pki.VerifyCRL(b, ca.Cert, time.Time{})
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", filepath.Join(dir, crlFile), err)
	}
	return crl.Set(), crl, nil
}

func newCertsValidate(g *globals) *cobra.Command {
	var caDir, certFile, role string
	cmd := &cobra.Command{
		Use:   "validate FILE --ca-dir CA [--role R]",
		Short: "Check a certificate file against a CA",
		Long: `Check FILE (PEM: the certificate, optionally followed by its intermediates)
against the CA in --ca-dir: a chain to its root, the validity window, the
role and key usage (--role: the role it must have), and the CA directory's
CRL (crl.pem, from weir certs revoke). Exits 1 when it is not valid.
Formats: table; json and yaml (valid, record, chain, problems); csv.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				if certFile != "" {
					return errors.New("give the certificate as an argument or --cert-file, not both")
				}
				certFile = args[0]
			}
			if certFile == "" {
				return errors.New("give the certificate file: weir certs validate FILE --ca-dir CA")
			}
			ca, err := loadCA(caDir)
			if err != nil {
				return err
			}
			opts := pki.ValidateOptions{}
			if role != "" {
				if opts.Role, err = pki.ParseRole(role); err != nil {
					return fmt.Errorf("--role: %w", err)
				}
			}
			revoked, _, err := localRevoked(ca, caDir)
			if err != nil {
				return err
			}
			opts.Revoked = revoked
			res, err := pki.ValidateFile(certFile, ca.Trust(), opts)
			if err != nil {
				return err
			}
			verdict := "VALID"
			if !res.Valid {
				verdict = "INVALID"
			}
			rows := [][]string{{"file", certFile}, {"result", verdict}}
			if res.Record != nil {
				rows = append(rows, []string{"principal", res.Record.Principal}, []string{"role", dash(string(res.Record.Role))},
					[]string{"serial", res.Record.Serial}, []string{"not after", res.Record.NotAfter.Format(time.RFC3339)})
			}
			if len(res.Chain) > 0 {
				rows = append(rows, []string{"chain", strings.Join(res.Chain, " -> ")})
			}
			var probs []string
			for _, p := range res.Problems {
				rows = append(rows, []string{"problem", string(p.Kind) + ": " + p.Message})
				probs = append(probs, string(p.Kind)+": "+p.Message)
			}
			serial := ""
			if res.Record != nil {
				serial = res.Record.Serial
			}
			v := view{data: res, table: table{rows: rows, keys: true, paint: func(row, col int) string {
				if row == 1 && col == 1 {
					return map[bool]string{true: sgrGreen, false: sgrRed}[res.Valid]
				}
				return ""
			}}, csv: [][]string{{"file", "valid", "serial", "problems"}, {certFile, strconv.FormatBool(res.Valid), serial, strings.Join(probs, "; ")}}}
			if err := g.print(v); err != nil {
				return err
			}
			if !res.Valid {
				return fmt.Errorf("%s is not valid: %v", certFile, res.Err())
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&caDir, "ca-dir", "", "directory of the CA to validate against")
	cmd.Flags().StringVar(&certFile, "cert-file", "", "the certificate file (same as the argument)")
	cmd.Flags().StringVar(&role, "role", "", "the role the certificate must have: broker, controller, client or admin")
	return cmd
}

// certStatus is certs status' and certs expiring's entry.
type certStatus struct {
	File      string     `json:"file"`
	Status    pki.Status `json:"status"`
	ExpiresIn string     `json:"expires_in"`
	Record    pki.Record `json:"record"`
}

func newCertsStatus(g *globals) *cobra.Command {
	var caDir string
	cmd := &cobra.Command{
		Use:   "status FILE [--ca-dir CA]",
		Short: "Show a certificate file's principal, role, validity and status",
		Long: `Show the certificate in FILE: principal, role, SANs, issuer, serial, validity
and status (active, expired, not-yet-valid; with --ca-dir, revoked when the
CA's local index or CRL says so). It checks no signature: see certs validate.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := readLeaf(args[0])
			if err != nil {
				return err
			}
			rec := pki.RecordOf(c)
			if caDir != "" {
				ca, err := loadCA(caDir)
				if err != nil {
					return err
				}
				revoked, _, err := localRevoked(ca, caDir)
				if err != nil {
					return err
				}
				if rv, ok := revoked[rec.Serial]; ok {
					rec.Status, rec.RevocationReason, rec.RevokedAt = pki.StatusRevoked, rv.Reason, rv.At
				}
			}
			now := time.Now()
			st := certStatus{File: args[0], Status: rec.StatusAt(now), ExpiresIn: expiresIn(rec.NotAfter, now), Record: rec}
			rows := [][]string{
				{"file", st.File}, {"status", string(st.Status)}, {"principal", rec.Principal}, {"role", dash(string(rec.Role))},
				{"subject", rec.Subject}, {"issuer", rec.Issuer}, {"serial", rec.Serial}, {"sans", dash(sansText(rec.SANs))},
				{"not before", rec.NotBefore.Format(time.RFC3339)}, {"not after", rec.NotAfter.Format(time.RFC3339)},
				{"expires in", st.ExpiresIn}, {"key algorithm", rec.KeyAlgorithm}, {"fingerprint (sha256)", rec.Fingerprint},
			}
			if rec.Status == pki.StatusRevoked {
				rows = append(rows, []string{"revoked", fmt.Sprintf("%s at %s", rec.RevocationReason, rec.RevokedAt.Format(time.RFC3339))})
			}
			return g.print(view{data: st, table: table{rows: rows, keys: true, paint: paintStatus(func(int) pki.Status { return st.Status }, -1)},
				csv: [][]string{{"file", "status", "principal", "role", "serial", "not_after", "expires_in"},
					{st.File, string(st.Status), rec.Principal, string(rec.Role), rec.Serial, rec.NotAfter.Format(time.RFC3339), st.ExpiresIn}}})
		},
	}
	cmd.Flags().StringVar(&caDir, "ca-dir", "", "the issuing CA's directory, to report a local revocation")
	return cmd
}

// expiringScanMax bounds the files certs expiring reads.
const expiringScanMax = 100_000

func newCertsExpiring(g *globals) *cobra.Command {
	var dir string
	var within time.Duration
	var days int
	cmd := &cobra.Command{
		Use:   "expiring --dir DIR [--within 720h]",
		Short: "List certificate files under a directory that expire soon",
		Long: `List the certificates in the .pem files under --dir (recursively; keys and
CRLs skipped, the first certificate of each file) that are valid now and
expire within --within (default 720h, 30 days), soonest first. Formats:
table; json and yaml (file, status, expires_in, record); csv.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if dir == "" {
				return errors.New("--dir is required: the directory to look for certificates in")
			}
			if cmd.Flags().Changed("days") {
				if days <= 0 || days > 36500 {
					return fmt.Errorf("--days %d: want 1..36500", days)
				}
				within = time.Duration(days) * 24 * time.Hour
			}
			if within <= 0 {
				return fmt.Errorf("--within %v: want a positive duration (720h is 30 days)", within)
			}
			files := map[string]string{} // serial+issuer -> file
			var records []pki.Record
			seen := 0
			err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
				if err != nil {
					return err
				}
				if d.IsDir() || !strings.HasSuffix(d.Name(), ".pem") || strings.HasSuffix(d.Name(), "-key.pem") || d.Name() == crlFile {
					return nil
				}
				if seen++; seen > expiringScanMax {
					return fmt.Errorf("more than %d .pem files under %s; point --dir at a smaller tree", expiringScanMax, dir)
				}
				certs, err := readCertFile(path)
				if err != nil {
					return nil // not a certificate file
				}
				rec := pki.RecordOf(certs[0])
				key := rec.Issuer + "/" + rec.Serial
				if _, dup := files[key]; !dup {
					files[key] = path
					records = append(records, rec)
				}
				return nil
			})
			if err != nil {
				return err
			}
			now := time.Now()
			out := []certStatus{}
			for _, r := range pki.Expiring(records, now, within) {
				out = append(out, certStatus{File: files[r.Issuer+"/"+r.Serial], Status: r.StatusAt(now), ExpiresIn: expiresIn(r.NotAfter, now), Record: r})
			}
			v := view{data: out, table: table{header: []string{"FILE", "PRINCIPAL", "ROLE", "SERIAL", "NOT-AFTER", "EXPIRES-IN"}},
				csv:     [][]string{{"file", "principal", "role", "serial", "not_after", "expires_in"}},
				preface: []string{fmt.Sprintf("%d of %d certificates under %s expire within %v", len(out), len(records), dir, within)}}
			for _, c := range out {
				row := []string{c.File, c.Record.Principal, dash(string(c.Record.Role)), c.Record.Serial, c.Record.NotAfter.Format(time.RFC3339), c.ExpiresIn}
				v.table.rows = append(v.table.rows, row)
				v.csv = append(v.csv, row)
			}
			if len(out) == 0 {
				v.table = table{}
			}
			return g.print(v)
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "", "directory to look for certificate files in")
	cmd.Flags().DurationVar(&within, "within", 720*time.Hour, "how soon: list certificates expiring within this")
	cmd.Flags().IntVar(&days, "days", 0, "how soon, in days (instead of --within)")
	return cmd
}

// ---- the local index ----

// readIndex reads a CA directory's index (none: no records).
func readIndex(dir string) ([]pki.Record, error) {
	b, err := os.ReadFile(filepath.Join(dir, indexFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var rs []pki.Record
	if err := json.Unmarshal(b, &rs); err != nil {
		return nil, fmt.Errorf("%s is not a certificate index: %v", filepath.Join(dir, indexFile), err)
	}
	return rs, nil
}

// updateIndex rewrites the index with fn's records, through a temporary
// file renamed into place, so a reader never sees half of it. Two CLIs
// writing one index at once can lose a record: the index is a local
// convenience until the controller's registry exists.
func updateIndex(dir string, fn func([]pki.Record) ([]pki.Record, error)) error {
	rs, err := readIndex(dir)
	if err != nil {
		return err
	}
	if rs, err = fn(rs); err != nil {
		return err
	}
	b, err := json.MarshalIndent(rs, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, indexFile+".tmp*")
	if err != nil {
		return err
	}
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return os.Rename(tmp.Name(), filepath.Join(dir, indexFile))
}

func newCertsList(g *globals) *cobra.Command {
	var caDir, status, role, principal string
	var registry bool
	var within time.Duration
	cmd := &cobra.Command{
		Use:   "list --ca-dir CA|--registry [--status S] [--role R] [--principal P]",
		Short: "List certificates: the cluster's registry, or a CA's local index",
		Long: `With --registry, list the cluster's certificate registry through the admin
API (GET /api/v1/certs at --api-url): every certificate registered by certs
issue, renew, rotate or register, or revoked, from any CLI, by serial.
Filters: --status active, revoked or expired; --role; --principal;
--expiring-within 720h (active certificates expiring that soon).

With --ca-dir, list the certificates issued, renewed or rotated by this CLI
with the CA in --ca-dir, from its local index (CA/issued.json), soonest
expiry first. Filters: --status active, revoked, expired, not-yet-valid;
--role; --principal.

Formats: table; json and yaml (the records); csv.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if registry {
				if caDir != "" {
					return errors.New("give --registry (the cluster's registry) or --ca-dir (a CA's local index), not both")
				}
				return g.certsListRegistry(status, role, principal, within)
			}
			if cmd.Flags().Changed("expiring-within") {
				return errors.New("--expiring-within needs --registry\nhint: `weir certs expiring --dir DIR` lists certificate files that expire soon")
			}
			if caDir == "" {
				return errors.New("--ca-dir is required: the CA whose local index to list; or pass --registry for the cluster's registry\nhint: weir certs list --registry")
			}
			if _, err := os.Stat(filepath.Join(caDir, pki.CAFile)); err != nil {
				return pkiHint(fmt.Errorf("%s is not a CA directory: %w", caDir, err), caDir)
			}
			var f pki.Filter
			var err error
			if status != "" {
				if f.Status, err = pki.ParseStatus(status); err != nil {
					return fmt.Errorf("--status: %w", err)
				}
			}
			if role != "" {
				if f.Role, err = pki.ParseRole(role); err != nil {
					return fmt.Errorf("--role: %w", err)
				}
			}
			f.Principal = principal
			rs, err := readIndex(caDir)
			if err != nil {
				return err
			}
			now := time.Now()
			sel := pki.Select(rs, f, now)
			if sel == nil {
				sel = []pki.Record{}
			}
			v := view{data: sel, table: table{header: []string{"SERIAL", "PRINCIPAL", "ROLE", "STATUS", "NOT-AFTER", "EXPIRES-IN"}},
				csv: [][]string{{"serial", "principal", "role", "status", "not_after", "revocation_reason", "replaces"}}}
			for _, r := range sel {
				v.table.rows = append(v.table.rows, []string{r.Serial, r.Principal, dash(string(r.Role)), string(r.StatusAt(now)), r.NotAfter.Format(time.RFC3339), expiresIn(r.NotAfter, now)})
				v.csv = append(v.csv, []string{r.Serial, r.Principal, string(r.Role), string(r.StatusAt(now)), r.NotAfter.Format(time.RFC3339), string(r.RevocationReason), r.Replaces})
			}
			v.table.paint = paintStatus(func(row int) pki.Status { return sel[row].StatusAt(now) }, 3)
			if len(sel) == 0 {
				v.table = table{}
				v.preface = []string{fmt.Sprintf("no certificates in %s match", filepath.Join(caDir, indexFile))}
			}
			return g.print(v)
		},
	}
	f := cmd.Flags()
	f.StringVar(&caDir, "ca-dir", "", "the CA directory")
	f.StringVar(&status, "status", "", "active, revoked, expired or not-yet-valid")
	f.StringVar(&status, "filter", "", "same as --status")
	f.StringVar(&role, "role", "", "broker, controller, client or admin")
	f.StringVar(&principal, "principal", "", "only this principal's certificates")
	f.BoolVar(&registry, "registry", false, "list the cluster's certificate registry (through --api-url)")
	f.DurationVar(&within, "expiring-within", 0, "with --registry: only active certificates expiring within this (720h)")
	return cmd
}

func newCertsRevoke(g *globals) *cobra.Command {
	var caDir, certFile, reason string
	var force, localOnly bool
	cmd := &cobra.Command{
		Use:   "revoke SERIAL|--cert FILE --ca-dir CA --reason R [--force]",
		Short: "Revoke a certificate: in the cluster's registry, the CA's local index and its CRL",
		Long: `Revoke the certificate with SERIAL (as certs list shows it), or the one in
--cert, issued by the CA in --ca-dir, for --reason (keyCompromise,
superseded, cessationOfOperation, affiliationChanged, certificateHold,
privilegeWithdrawn, unspecified; key-compromise spellings accepted). It marks
the certificate revoked in CA/issued.json and writes CA/crl.pem, signed by
the CA, which certs validate and certs status honour, and revokes it in the
cluster's certificate registry through the admin API (POST
/api/v1/certs/revoke): every broker and controller then refuses the
certificate at the handshake and closes its live connections, from its
next metadata round. --local-only skips the cluster. It asks for
confirmation unless --force.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ca, err := loadCA(caDir)
			if err != nil {
				return err
			}
			rsn, err := pki.ParseReason(reason)
			if err != nil {
				return fmt.Errorf("--reason: %w", err)
			}
			var serial string
			var fromFile *pki.Record
			switch {
			case len(args) == 1 && certFile != "":
				return errors.New("give a serial or --cert, not both")
			case len(args) == 1:
				n, err := pki.ParseSerial(args[0])
				if err != nil {
					return fmt.Errorf("serial %q: %w\nhint: `weir certs list --ca-dir %s` lists the serials", args[0], err, caDir)
				}
				serial = pki.SerialString(n)
			case certFile != "":
				c, err := readLeaf(certFile)
				if err != nil {
					return err
				}
				if c.CheckSignatureFrom(ca.Cert) != nil {
					return fmt.Errorf("%s (%q) was not issued by the CA in %s", certFile, c.Subject.CommonName, caDir)
				}
				rec := pki.RecordOf(c)
				fromFile, serial = &rec, rec.Serial
			default:
				return fmt.Errorf("give the serial of the certificate to revoke, or --cert FILE\nhint: `weir certs list --ca-dir %s` lists the serials", caDir)
			}
			if !force {
				ok, err := confirm(fmt.Sprintf("Revoke certificate %s (%s)?", serial, rsn))
				if errors.Is(err, errNotATerminal) {
					return errors.New("refusing to prompt: stdin is not a terminal; pass --force to revoke")
				}
				if err != nil {
					return err
				}
				if !ok {
					return errors.New("nothing revoked: not confirmed (answer y, or pass --force)")
				}
			}
			now := time.Now()
			var revoked pki.Record
			var all []pki.Record
			again := false
			err = updateIndex(caDir, func(rs []pki.Record) ([]pki.Record, error) {
				i := slices.IndexFunc(rs, func(r pki.Record) bool { return r.Serial == serial })
				if i < 0 {
					if fromFile == nil {
						return nil, fmt.Errorf("certificate %s is not in %s\nhint: `weir certs list --ca-dir %s` lists what this CA issued; or pass --cert FILE", serial, filepath.Join(caDir, indexFile), caDir)
					}
					rs, i = append(rs, *fromFile), len(rs)
				}
				if r := rs[i]; r.Status == pki.StatusRevoked && r.RevocationReason == rsn {
					again = true // already revoked for this reason: write the CRL again
				} else if err := rs[i].Revoke(rsn, now); err != nil {
					return nil, err
				}
				revoked, all = rs[i], rs
				return rs, nil
			})
			if err != nil {
				return err
			}
			crlPath, number, entries, err := writeCRL(ca, caDir, all)
			if err != nil {
				return fmt.Errorf("certificate %s revoked in %s, but writing the CRL failed: %w\nhint: fix the problem and run the same command again: it rewrites the CRL", serial, filepath.Join(caDir, indexFile), err)
			}
			note := "the cluster's registry was not told (--local-only): the certificate still connects to a running cluster"
			if !localOnly {
				var raw json.RawMessage
				if err := g.api(http.MethodPost, "/api/v1/certs/revoke", map[string]string{"serial": serial, "reason": string(rsn)}, &raw); err != nil {
					return fmt.Errorf("certificate %s revoked in %s and its CRL, but the cluster's registry was not told: %w\nhint: run the same command again when the admin API is reachable (revoking again changes nothing), or pass --local-only", serial, filepath.Join(caDir, indexFile), err)
				}
				note = "the cluster's registry revoked it: every broker and controller refuses it from its next metadata round and closes its live connections"
			}
			what := "revoked"
			if again {
				what = "was already revoked"
			}
			out := revokeOutput{Record: revoked, CRL: crlPath, CRLNumber: number, CRLEntries: entries, Note: note}
			return g.print(view{data: out,
				preface: []string{fmt.Sprintf("certificate %s (%s) %s: %s; CRL %s written (number %d, %d entries)", serial, revoked.Principal, what, rsn, crlPath, number, entries), "note: " + note},
				csv:     [][]string{{"serial", "principal", "reason", "revoked_at", "crl", "crl_number"}, {serial, revoked.Principal, string(rsn), revoked.RevokedAt.Format(time.RFC3339), crlPath, strconv.FormatUint(number, 10)}}})
		},
	}
	f := cmd.Flags()
	f.StringVar(&caDir, "ca-dir", "", "the issuing CA's directory")
	f.StringVar(&certFile, "cert", "", "the certificate file to revoke (instead of a serial)")
	f.StringVar(&reason, "reason", "unspecified", "revocation reason (RFC 5280): keyCompromise, superseded, cessationOfOperation, ...")
	f.BoolVarP(&force, "force", "f", false, "revoke without asking")
	f.BoolVar(&localOnly, "local-only", false, "revoke in the CA's index and CRL only, without telling the cluster's registry")
	return cmd
}

// revokeOutput is certs revoke's json and yaml.
type revokeOutput struct {
	Record     pki.Record `json:"record"`
	CRL        string     `json:"crl"`
	CRLNumber  uint64     `json:"crl_number"`
	CRLEntries int        `json:"crl_entries"`
	Note       string     `json:"note"`
}

// writeCRL writes the CA's CRL of the revocations in records, numbered one
// above the CRL it replaces.
func writeCRL(ca *pki.CA, dir string, records []pki.Record) (string, uint64, int, error) {
	path := filepath.Join(dir, crlFile)
	number := uint64(1)
	if _, old, err := localRevoked(ca, dir); err == nil && old != nil && old.Number != nil && old.Number.IsUint64() {
		number = old.Number.Uint64() + 1
	}
	revs := pki.Revocations(records, ca.Record().SubjectKeyID)
	now := time.Now()
	pemData, err := ca.CreateCRL(revs, pki.CRLOptions{Number: number, ThisUpdate: now, NextUpdate: now.Add(30 * 24 * time.Hour)})
	if err != nil {
		return "", 0, 0, err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, pemData, 0o644); err != nil {
		return "", 0, 0, err
	}
	if err := os.Rename(tmp, path); err != nil {
		return "", 0, 0, err
	}
	return path, number, len(revs), nil
}
