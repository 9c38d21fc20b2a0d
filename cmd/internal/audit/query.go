package audit

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"time"
)

// Filter selects events. Zero fields select everything.
type Filter struct {
	Since     time.Time // events at or after (inclusive)
	Until     time.Time // events before (exclusive)
	Types     []Type    // any of these
	Principal string    // exactly this principal
	Limit     int       // Query: the most recent Limit; Follow: stop after Limit
}

// Validate names the first bad field.
func (f Filter) Validate() error {
	if f.Limit < 0 {
		return fmt.Errorf("audit: limit must be >= 0 (got %d)", f.Limit)
	}
	if !f.Since.IsZero() && !f.Until.IsZero() && !f.Until.After(f.Since) {
		return fmt.Errorf("audit: until %s is not after since %s", f.Until.UTC().Format(time.RFC3339Nano), f.Since.UTC().Format(time.RFC3339Nano))
	}
	for _, t := range f.Types {
		if !t.Valid() {
			return fmt.Errorf("audit: filter has invalid event type %d", uint8(t))
		}
	}
	return nil
}

// Match reports whether ev passes f (Limit aside).
func (f Filter) Match(ev Event) bool {
	if !f.Since.IsZero() && ev.Time.Before(f.Since) {
		return false
	}
	if !f.Until.IsZero() && !ev.Time.Before(f.Until) {
		return false
	}
	if len(f.Types) > 0 && !slices.Contains(f.Types, ev.Type) {
		return false
	}
	return f.Principal == "" || ev.Principal == f.Principal
}

// ParseSince reads a --since flag: an RFC 3339 time ("2026-12-03T13:00:00Z")
// or a duration back from now ("15m", "24h").
func ParseSince(s string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UTC(), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return time.Time{}, fmt.Errorf("audit: since %q is neither an RFC 3339 time (2026-12-03T13:00:00Z) nor a duration (15m, 24h)", s)
	}
	if d < 0 {
		return time.Time{}, fmt.Errorf("audit: since %q is a negative duration; give how far back, e.g. 15m", s)
	}
	return now.Add(-d).UTC(), nil
}

// ReadStats says what a read met besides events.
type ReadStats struct {
	Files     int     // files read
	Lines     int     // non-empty lines seen
	Malformed int     // lines that were not an event (torn, too long, bad JSON, unknown type)
	Errors    []error // files that could not be read through (each also skipped, never fatal)
}

// Result is what Query returns.
type Result struct {
	Events []Event // in time order (stable: ties keep file order), oldest first
	ReadStats
}

// Reader reads the log that a Logger with the same Path writes, from any
// process.
type Reader struct {
	Path string
	Poll time.Duration // how often Follow looks for new lines; 200ms if zero
}

// LineBytesMax bounds one line read back; longer ones are skipped as malformed.
const LineBytesMax = 1 << 20

// Query reads the current file of path and its backups.
func Query(path string, f Filter) (Result, error) { return Reader{Path: path}.Query(f) }

// Follow streams new events of path; see Reader.Follow.
func Follow(ctx context.Context, path string, f Filter, fn func(Event) error) (ReadStats, error) {
	return Reader{Path: path}.Follow(ctx, f, fn)
}

// Query returns the events that match f from the backups (oldest first) and
// the current file. Unreadable files and malformed lines are skipped and
// counted; the error is only for a bad filter or a directory that cannot be
// listed. With no log at all the result is empty.
func (r Reader) Query(f Filter) (Result, error) {
	if err := f.Validate(); err != nil {
		return Result{}, err
	}
	bs, err := listBackups(r.Path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return Result{}, nil
		}
		return Result{}, err
	}
	var res Result
	keep := func(ev Event) error {
		if !f.Match(ev) {
			return nil
		}
		res.Events = append(res.Events, ev)
		if f.Limit > 0 && len(res.Events) >= 4*f.Limit+1024 {
			res.Events = mostRecent(res.Events, f.Limit)
		}
		return nil
	}
	for _, b := range bs {
		rd, c, err := openBackup(b)
		if err != nil {
			if !errors.Is(err, os.ErrNotExist) { // pruned since listed: not an error
				res.Errors = append(res.Errors, err)
			}
			continue
		}
		res.Files++
		if _, err := readAll(rd, &res.ReadStats, keep); err != nil {
			res.Errors = append(res.Errors, fmt.Errorf("audit: %s: %w", b.path, err))
		}
		c.Close()
	}
	if cur, err := os.Open(r.Path); err == nil {
		res.Files++
		if _, err := readAll(cur, &res.ReadStats, keep); err != nil {
			res.Errors = append(res.Errors, fmt.Errorf("audit: %s: %w", r.Path, err))
		}
		cur.Close()
	} else if !errors.Is(err, os.ErrNotExist) {
		res.Errors = append(res.Errors, err)
	}
	slices.SortStableFunc(res.Events, func(a, b Event) int { return a.Time.Compare(b.Time) })
	if f.Limit > 0 && len(res.Events) > f.Limit {
		res.Events = slices.Clip(res.Events[len(res.Events)-f.Limit:])
	}
	return res, nil
}

func mostRecent(evs []Event, n int) []Event {
	slices.SortStableFunc(evs, func(a, b Event) int { return a.Time.Compare(b.Time) })
	return append(evs[:0:0], evs[len(evs)-n:]...)
}

// splitter cuts a byte stream into lines, skipping lines over LineBytesMax.
type splitter struct {
	partial  []byte
	skipping bool // inside a line already counted as too long
	st       *ReadStats
}

// feed passes every complete line of chunk to emit; the rest waits for more.
func (s *splitter) feed(chunk []byte, emit func([]byte) error) error {
	for len(chunk) > 0 {
		i := bytes.IndexByte(chunk, '\n')
		if i < 0 {
			if !s.skipping {
				s.partial = append(s.partial, chunk...)
				if len(s.partial) > LineBytesMax {
					s.tooLong()
				}
			}
			return nil
		}
		line := chunk[:i]
		chunk = chunk[i+1:]
		if s.skipping {
			s.skipping = false
			continue
		}
		if len(s.partial) > 0 {
			s.partial = append(s.partial, line...)
			line = s.partial
		}
		err := s.line(line, emit)
		s.partial = s.partial[:0]
		if err != nil {
			return err
		}
	}
	return nil
}

func (s *splitter) tooLong() {
	s.st.Lines++
	s.st.Malformed++
	s.partial = s.partial[:0]
	s.skipping = true
}

// end treats what is left as a last line (a torn write, usually malformed).
func (s *splitter) end(emit func([]byte) error) error {
	defer func() { s.partial, s.skipping = s.partial[:0], false }()
	if s.skipping || len(s.partial) == 0 {
		return nil
	}
	return s.line(s.partial, emit)
}

func (s *splitter) line(line []byte, emit func([]byte) error) error {
	if len(line) > LineBytesMax {
		s.st.Lines++
		s.st.Malformed++
		return nil
	}
	if len(bytes.TrimSpace(line)) == 0 {
		return nil // a torn line's terminator, or padding: not an event, not an error
	}
	s.st.Lines++
	return emit(line)
}

// parser turns lines into matched events for fn.
func parseInto(st *ReadStats, fn func(Event) error) func([]byte) error {
	return func(line []byte) error {
		var ev Event
		if err := ev.UnmarshalJSON(line); err != nil {
			st.Malformed++
			return nil
		}
		return fn(ev)
	}
}

// readAll reads r to its end and returns fn's error (which stops it) apart
// from a read error (a truncated archive), which ends the file with what came
// before it kept.
func readAll(r io.Reader, st *ReadStats, fn func(Event) error) (stop, readErr error) {
	s := splitter{st: st}
	emit := parseInto(st, fn)
	buf := make([]byte, 64<<10)
	for {
		n, err := r.Read(buf)
		if ferr := s.feed(buf[:n], emit); ferr != nil {
			return ferr, nil
		}
		if err == io.EOF {
			return s.end(emit), nil
		}
		if err != nil {
			return s.end(emit), err
		}
	}
}

// errLimit ends a Follow that delivered Filter.Limit events.
var errLimit = errors.New("audit: follow limit reached")

// Follow calls fn for every event that matches f and is written after Follow
// starts, in write order, until ctx ends (it then returns ctx's error), fn
// returns an error (returned as is), or f.Limit events were delivered (nil).
// It polls every r.Poll and survives rotation: when the file at Path is a new
// one, it reads the old one to its end, then any backups rotated since (a
// burst can rotate several times between two polls), then the new file from
// its start. It waits for a log that does not exist yet. Events can be missed
// only if more than MaxBackups rotations happen within one poll (the pruned
// files are gone before it can read them).
func (r Reader) Follow(ctx context.Context, f Filter, fn func(Event) error) (ReadStats, error) {
	var st ReadStats
	if err := f.Validate(); err != nil {
		return st, err
	}
	poll := r.Poll
	if poll <= 0 {
		poll = 200 * time.Millisecond
	}
	delivered := 0
	deliver := func(ev Event) error {
		if !f.Match(ev) {
			return nil
		}
		if err := fn(ev); err != nil {
			return err
		}
		delivered++
		if f.Limit > 0 && delivered >= f.Limit {
			return errLimit
		}
		return nil
	}
	fo := follower{path: r.Path, st: &st, deliver: deliver, emit: parseInto(&st, deliver)}
	fo.split.st = &st
	err := fo.run(ctx, poll)
	if errors.Is(err, errLimit) {
		err = nil
	}
	return st, err
}

type follower struct {
	path    string
	st      *ReadStats
	deliver func(Event) error
	emit    func([]byte) error
	split   splitter
	cur     *os.File
	off     int64
	known   map[string]bool // backups that existed when cur became current
	buf     []byte
}

func (fo *follower) run(ctx context.Context, poll time.Duration) error {
	defer func() {
		if fo.cur != nil {
			fo.cur.Close()
		}
	}()
	fo.buf = make([]byte, 64<<10)
	// Start: what exists now is history; everything after is delivered.
	if _, err := fo.attach(true); err != nil {
		return err
	}
	if fo.cur != nil {
		st, err := fo.cur.Stat()
		if err != nil {
			return fmt.Errorf("audit: follow %s: %w", fo.path, err)
		}
		fo.off = st.Size()
	}
	t := time.NewTicker(poll)
	defer t.Stop()
	for {
		if err := fo.step(); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// attach opens the file at path and records the backups that exist, retrying
// until no rotation slipped in between (the path still names the opened file
// after the listing). If there is no file at path (a writer between its rename
// and its create), it reports false and changes nothing, except on the first
// attach, which keeps the listing as the history not to deliver.
func (fo *follower) attach(first bool) (bool, error) {
	for {
		f, err := openRegular(fo.path)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return false, fmt.Errorf("audit: follow %s: %w", fo.path, err)
		}
		known, lerr := fo.listKnown()
		if lerr != nil {
			if f != nil {
				f.Close()
			}
			return false, lerr
		}
		if f == nil {
			if _, err := openRegularStat(fo.path); errors.Is(err, os.ErrNotExist) {
				if first {
					fo.known = known
				}
				return false, nil
			}
			continue
		}
		if sameFileAt(f, fo.path) {
			if fo.cur != nil {
				fo.cur.Close()
			}
			fo.cur, fo.known, fo.off = f, known, 0
			return true, nil
		}
		f.Close()
	}
}

func (fo *follower) listKnown() (map[string]bool, error) {
	bs, err := listBackups(fo.path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("audit: follow %s: %w", fo.path, err)
	}
	known := make(map[string]bool, len(bs))
	for _, b := range bs {
		known[b.base] = true
	}
	return known, nil
}

// openRegular opens path for reading; anything but a regular file (a directory
// put in the log's place) counts as no file yet.
func openRegular(path string) (*os.File, error) {
	if _, err := openRegularStat(path); err != nil {
		return nil, err
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	if st, err := f.Stat(); err != nil || !st.Mode().IsRegular() {
		f.Close()
		return nil, os.ErrNotExist
	}
	return f, nil
}

func openRegularStat(path string) (os.FileInfo, error) {
	st, err := os.Stat(path)
	if err == nil && !st.Mode().IsRegular() {
		return nil, fmt.Errorf("audit: %s is not a regular file: %w", path, os.ErrNotExist)
	}
	return st, err
}

func sameFileAt(f *os.File, path string) bool {
	a, err1 := f.Stat()
	b, err2 := os.Stat(path)
	return err1 == nil && err2 == nil && os.SameFile(a, b)
}

// step reads what is new; if the path now names another file, it finishes the
// old one, reads the backups rotated in between and moves to the new one.
func (fo *follower) step() error {
	if fo.cur != nil {
		if err := fo.drain(); err != nil {
			return err
		}
		if sameFileAt(fo.cur, fo.path) {
			return nil
		}
		if _, err := openRegularStat(fo.path); errors.Is(err, os.ErrNotExist) {
			return nil // between the writer's rename and its create, or no writer
		}
		if err := fo.drain(); err != nil { // the last lines before the rename
			return err
		}
		if err := fo.split.end(fo.emit); err != nil {
			return err
		}
	} else if _, err := openRegularStat(fo.path); errors.Is(err, os.ErrNotExist) {
		return nil // still waiting for the log to appear
	}
	var old os.FileInfo // the file we were following, if any
	if fo.cur != nil {
		old, _ = fo.cur.Stat()
	}
	before := fo.known
	if ok, err := fo.attach(false); err != nil || !ok {
		return err // not ok: try again at the next poll
	}
	// Backups that appeared since the last attach, oldest first. The oldest is
	// the file we were following (already read); the rest rotated past us.
	bs, err := listBackups(fo.path)
	if err != nil {
		return fmt.Errorf("audit: follow %s: %w", fo.path, err)
	}
	skip := old != nil
	for _, b := range bs {
		if before[b.base] || !fo.known[b.base] {
			continue
		}
		if skip {
			skip = false
			// A plain backup can be checked; if it is not our file, ours was
			// deleted rather than rotated, and this one is unread.
			if st, err := os.Stat(b.path); b.gz || err != nil || os.SameFile(st, old) {
				continue
			}
		}
		if err := fo.readBackup(b); err != nil {
			return err
		}
	}
	return fo.drain()
}

func (fo *follower) readBackup(b backup) error {
	rd, c, err := openBackup(b)
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			fo.st.Errors = append(fo.st.Errors, err)
		}
		return nil
	}
	defer c.Close()
	fo.st.Files++
	stop, err := readAll(rd, fo.st, fo.deliver)
	if err != nil {
		fo.st.Errors = append(fo.st.Errors, fmt.Errorf("audit: %s: %w", b.path, err))
	}
	return stop
}

// drain reads cur from off to its current end.
func (fo *follower) drain() error {
	st, err := fo.cur.Stat()
	if err != nil {
		return fmt.Errorf("audit: follow %s: %w", fo.path, err)
	}
	if st.Size() < fo.off { // truncated under us: start over
		fo.off = 0
		fo.split.partial, fo.split.skipping = fo.split.partial[:0], false
	}
	for {
		n, err := fo.cur.ReadAt(fo.buf, fo.off)
		fo.off += int64(n)
		if ferr := fo.split.feed(fo.buf[:n], fo.emit); ferr != nil {
			return ferr
		}
		if err == io.EOF || (err == nil && n == 0) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("audit: follow %s: %w", fo.path, err)
		}
	}
}
