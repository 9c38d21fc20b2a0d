package server

import (
	"context"
	"errors"
	"fmt"
	"io/fs"

	"github.com/weirmq/weir/net/admin"
	"github.com/weirmq/weir/net/pki"
	"github.com/weirmq/weir/sm"
)

// Certs reads the applied certificate registry through the loop (a
// CertRequest with List, which any controller answers from its state).
func (b *backend) Certs(ctx context.Context) (admin.CertRegistry, error) {
	m, err := b.local.call(ctx, func(id uint64) sm.Message { return sm.CertRequest{ReqID: id, List: true} })
	if err != nil {
		return admin.CertRegistry{}, errors.Join(admin.ErrUnavailable, err)
	}
	r, ok := m.(sm.CertResponse)
	if !ok {
		return admin.CertRegistry{}, fmt.Errorf("controller: unexpected reply %T to a certificate list", m)
	}
	if r.Code != sm.CodeOK {
		return admin.CertRegistry{}, fmt.Errorf("controller: listing certificates: %v: %s", r.Code, r.Message)
	}
	return admin.CertRegistry{Records: r.Records, RevokedVersion: r.RevokedVersion}, nil
}

// CA implements admin.CertAuthority: the CA in [admin] ca_dir, read at
// every call so a renewed CA is picked up, signs the admin API's CRL.
func (b *backend) CA() (*pki.CA, error) {
	if b.caDir == "" {
		return nil, fmt.Errorf("%w: [admin] ca_dir is not set (point it at the CA directory of ca.pem and ca-key.pem, as weir ca init makes it, to serve a CRL)", admin.ErrNoCA)
	}
	ca, err := pki.LoadCA(b.caDir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: [admin] ca_dir %s: %w", admin.ErrNoCA, b.caDir, err)
	}
	if err != nil {
		return nil, fmt.Errorf("[admin] ca_dir %s: %w", b.caDir, err)
	}
	return ca, nil
}
