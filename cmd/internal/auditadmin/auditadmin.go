// Package auditadmin plugs the audit log reader (cmd/internal/audit) into
// the admin API's GET /api/v1/audit: net/admin cannot import
// cmd/internal/audit (it is internal to cmd/), so the process sets
// admin.Config.Audit to Reader.
package auditadmin

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/weirmq/weir/cmd/internal/audit"
	"github.com/weirmq/weir/net/admin"
)

// Reader reads the audit log at path with audit.Query. An unknown event
// type is admin.ErrBadAuditQuery (a 400 naming it). The read is bounded by
// q.Limit, which the admin API caps; ctx is not consulted mid-read (Query
// reads local files and has no cancellation).
func Reader(ctx context.Context, path string, q admin.AuditQuery) (admin.AuditPage, error) {
	f := audit.Filter{Since: q.Since, Until: q.Until, Principal: q.Principal, Limit: q.Limit}
	for _, name := range q.Types {
		t, err := audit.ParseType(name)
		if err != nil {
			return admin.AuditPage{}, fmt.Errorf("%w: type: %v", admin.ErrBadAuditQuery, err)
		}
		f.Types = append(f.Types, t)
	}
	if err := f.Validate(); err != nil {
		return admin.AuditPage{}, fmt.Errorf("%w: %v", admin.ErrBadAuditQuery, err)
	}
	if err := ctx.Err(); err != nil {
		return admin.AuditPage{}, err
	}
	res, err := audit.Query(path, f)
	if err != nil {
		return admin.AuditPage{}, err
	}
	page := admin.AuditPage{Files: res.Files, Malformed: res.Malformed, Events: make([]json.RawMessage, 0, len(res.Events))}
	for _, ev := range res.Events {
		b, err := ev.MarshalJSON()
		if err != nil {
			page.Malformed++ // an event Query parsed always encodes; count rather than fail
			continue
		}
		page.Events = append(page.Events, b)
	}
	for _, e := range res.Errors {
		page.Errors = append(page.Errors, e.Error())
	}
	return page, nil
}

var _ admin.AuditReader = Reader
