package audit

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// SyncPolicy says when the Logger calls fsync.
type SyncPolicy uint8

const (
	// SyncBatch (the default) fsyncs the file after every batch the drain
	// goroutine writes, and before a rotation renames it. An event Flush has
	// returned for is on disk; a machine crash loses at most the events still
	// in the queue. Batches grow with load, so the cost is one fsync per batch,
	// not per event, and it is paid by the drain goroutine, never by Log.
	SyncBatch SyncPolicy = iota
	// SyncNever leaves flushing to the operating system: a process crash loses
	// nothing that was written, a machine crash loses what the kernel had not
	// written back. For tests and `weir dev`.
	SyncNever
)

// Defaults for zero Config fields.
const (
	DefaultMaxBytes            = 100 << 20
	DefaultMaxBackups          = 10
	DefaultQueueMax            = 8192
	DefaultRepeatsPerSecondMax = 10
	DefaultRepeatKeysMax       = 4096
	DefaultRetryMin            = 10 * time.Millisecond
	DefaultRetryMax            = time.Second
	DefaultCloseTimeout        = 5 * time.Second
	batchMax                   = 1024 // events per write
)

// Config configures a Logger. Zero numeric fields take the defaults above;
// negative ones are an error.
type Config struct {
	Path       string // the current file, e.g. "<data dir>/audit/audit.log"; its directory is created
	Node       string // written into every event whose Node is empty: "broker-1", "controller-2"
	MaxBytes   int64  // a file is rotated before a line would take it past this
	MaxBackups int    // rotated files kept; older ones are removed
	Compress   bool   // gzip rotated files
	Sync       SyncPolicy
	QueueMax   int  // events buffered between Log and the drain goroutine
	LogAllowed bool // write AuthorizationAllowed events (one per allowed request: high volume)

	// The repeat rule (see repeatKey): at most RepeatsPerSecondMax events of one
	// (type, principal, source host, resource, operation) per second for
	// authentication failures and authorization denials, RepeatKeysMax keys.
	RepeatsPerSecondMax int
	RepeatKeysMax       int

	// Mirror, if set, is called on the drain goroutine with every event in write
	// order, just before it is written to the file and whether or not that
	// write succeeds (e.g. to produce it to an internal topic). It must not
	// block for long: while it runs nothing is written and the queue fills. An
	// error or a panic is counted in Stats.MirrorErrors.
	Mirror func(Event) error

	RetryMin     time.Duration    // first pause after a failed write; doubles up to RetryMax
	RetryMax     time.Duration    //
	CloseTimeout time.Duration    // how long Close keeps retrying a failing disk before giving up
	Now          func() time.Time // the clock; time.Now if nil

	openFile func(string) (file, error) // tests: fault injection
	rename   func(string, string) error // tests: fault injection
}

// Validate reports the first bad field, naming it.
func (c *Config) Validate() error {
	switch {
	case c.Path == "":
		return errors.New("audit: path of the audit log must be set")
	case c.Node == "":
		return errors.New("audit: node must be set (the broker or controller that writes the log)")
	case c.MaxBytes < 0:
		return fmt.Errorf("audit: max bytes must be >= 0 (got %d)", c.MaxBytes)
	case c.MaxBackups < 0:
		return fmt.Errorf("audit: max backups must be >= 0 (got %d)", c.MaxBackups)
	case c.QueueMax < 0:
		return fmt.Errorf("audit: queue max must be >= 0 (got %d)", c.QueueMax)
	case c.RepeatsPerSecondMax < 0:
		return fmt.Errorf("audit: repeats per second max must be >= 0 (got %d)", c.RepeatsPerSecondMax)
	case c.RepeatKeysMax < 0:
		return fmt.Errorf("audit: repeat keys max must be >= 0 (got %d)", c.RepeatKeysMax)
	case c.RetryMin < 0 || c.RetryMax < 0 || c.CloseTimeout < 0:
		return fmt.Errorf("audit: retry and close durations must be >= 0 (got %s, %s, %s)", c.RetryMin, c.RetryMax, c.CloseTimeout)
	case c.Sync != SyncBatch && c.Sync != SyncNever:
		return fmt.Errorf("audit: unknown sync policy %d", c.Sync)
	}
	if st, err := os.Stat(c.Path); err == nil && st.IsDir() {
		return fmt.Errorf("audit: path %s is a directory; name the log file inside it", c.Path)
	}
	return nil
}

func (c Config) withDefaults() Config {
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	if c.MaxBytes == 0 {
		c.MaxBytes = DefaultMaxBytes
	}
	def(&c.MaxBackups, DefaultMaxBackups)
	def(&c.QueueMax, DefaultQueueMax)
	def(&c.RepeatsPerSecondMax, DefaultRepeatsPerSecondMax)
	def(&c.RepeatKeysMax, DefaultRepeatKeysMax)
	if c.RetryMin == 0 {
		c.RetryMin = DefaultRetryMin
	}
	if c.RetryMax == 0 {
		c.RetryMax = DefaultRetryMax
	}
	c.RetryMax = max(c.RetryMax, c.RetryMin)
	if c.CloseTimeout == 0 {
		c.CloseTimeout = DefaultCloseTimeout
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.openFile == nil {
		c.openFile = openOSFile
	}
	if c.rename == nil {
		c.rename = os.Rename
	}
	return c
}

// Stats are the Logger's counters, for metrics. All are totals since New.
type Stats struct {
	Written      uint64 // events (including the Logger's own) written completely
	Dropped      uint64 // lost because the queue was full, or logged after Close
	Suppressed   uint64 // folded into EventsSuppressed summaries by the repeat rule
	Lost         uint64 // queued but never written: Close gave up on a failing disk
	Invalid      uint64 // refused by Log: no valid type or decision
	WriteErrors  uint64 // failed open, write, sync or rotation attempts (each retried)
	BackupErrors uint64 // failed compression or removal of rotated files
	MirrorErrors uint64 // Mirror returned an error or panicked
	Rotations    uint64
	Queued       int // events in the queue now
}

// ErrClosed is returned by Flush after Close.
var ErrClosed = errors.New("audit: logger closed")

type item struct {
	ev    Event
	flush chan error // a Flush marker when non-nil
}

// Logger writes events to a rotating file. Log never blocks: it puts the event
// on a bounded queue that one goroutine drains; a full queue drops and counts,
// and the drain goroutine writes one EventsDropped event with the count once it
// catches up. Write errors (disk full, file replaced by a directory) are
// counted and retried with backoff; nothing in the Logger panics or exits the
// process. One Logger per file: two writers on one path are not supported.
// The methods of a nil *Logger do nothing, so audit can be switched off by
// passing nil.
type Logger struct {
	cfg    Config
	queue  chan item
	mu     sync.RWMutex // Log holds it shared while sending, Close exclusively to stop sends
	closed bool
	stop   chan struct{}
	exited chan struct{}
	rep    *repeater
	w      *writer
	millCh chan struct{}
	milled chan struct{}

	dropPending atomic.Uint64 // dropped since the last EventsDropped was written

	written, dropped, lost, invalid, writeErrors, backupErrors, mirrorErrors, rotations atomic.Uint64

	closeOnce sync.Once
	closeErr  error
	giveUpAt  time.Time // once closing: when Close stops retrying a failing disk

	// Reused by the drain goroutine between batches.
	encBuf  []byte
	encEnds []int
	lines   [][]byte
}

// New validates cfg and starts the drain goroutine. The file is opened on the
// first write, so New succeeds on a disk that is failing now.
func New(cfg Config) (*Logger, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	l := &Logger{
		cfg:    cfg,
		queue:  make(chan item, cfg.QueueMax),
		stop:   make(chan struct{}),
		exited: make(chan struct{}),
		rep:    newRepeater(cfg.RepeatsPerSecondMax, cfg.RepeatKeysMax),
		millCh: make(chan struct{}, 1),
		milled: make(chan struct{}),
	}
	l.w = &writer{
		path: cfg.Path, maxBytes: cfg.MaxBytes, sync: cfg.Sync == SyncBatch, now: cfg.Now,
		open: cfg.openFile, rename: cfg.rename, onRotate: l.kickMill,
	}
	if bs, err := listBackups(cfg.Path); err == nil && len(bs) > 0 {
		l.w.lastBackup = bs[len(bs)-1].at
	}
	removeStaleTemps(cfg.Path)
	l.kickMill() // a previous run may have left backups to compress or prune
	go l.runMill()
	go l.run()
	return l, nil
}

// Enabled reports whether events of type t are written at all, so a hot path
// can skip building an AuthorizationAllowed event that would be thrown away.
func (l *Logger) Enabled(t Type) bool {
	if l == nil || !t.Valid() {
		return false
	}
	return t != AuthorizationAllowed || l.cfg.LogAllowed
}

// Log records ev. It never blocks on I/O: at worst it waits for a short mutex
// and drops the event (counted) when the queue is full. It fills Time and Node
// if they are zero, bounds the fields (see FieldBytesMax) and copies Details,
// so the caller may reuse its map.
func (l *Logger) Log(ev Event) {
	if l == nil {
		return
	}
	if !ev.Type.Valid() || (ev.Decision != NoDecision && ev.Decision != Allow && ev.Decision != Deny) {
		l.invalid.Add(1)
		return
	}
	if !l.Enabled(ev.Type) {
		return
	}
	if ev.Time.IsZero() {
		ev.Time = l.cfg.Now()
	}
	if ev.Node == "" {
		ev.Node = l.cfg.Node
	}
	ev = ev.bounded()
	if limited(ev.Type) && !l.rep.admit(&ev, l.cfg.Now()) {
		return
	}
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		l.dropped.Add(1)
		return
	}
	select {
	case l.queue <- item{ev: ev}:
	default:
		l.dropped.Add(1)
		l.dropPending.Add(1)
	}
}

// Flush waits until every event logged before it was written (and, with
// SyncBatch, synced), or ctx ends. On a failing disk it waits for the retries;
// the error is then ctx's.
func (l *Logger) Flush(ctx context.Context) error {
	if l == nil {
		return nil
	}
	done := make(chan error, 1)
	l.mu.RLock()
	closed := l.closed
	l.mu.RUnlock()
	if closed {
		return ErrClosed
	}
	select {
	case l.queue <- item{flush: done}:
	case <-ctx.Done():
		return ctx.Err()
	case <-l.exited:
		return ErrClosed
	}
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	case <-l.exited:
		select {
		case err := <-done: // answered by Close's last write
			return err
		default:
			return ErrClosed
		}
	}
}

// Close stops accepting events, writes what is queued and the pending
// summaries, syncs and closes the file, and waits for the mill to finish
// compressing and pruning. On a failing disk it retries for Config.CloseTimeout,
// then counts what it could not write as Lost and says so in its error. Close
// is idempotent.
func (l *Logger) Close() error {
	if l == nil {
		return nil
	}
	l.closeOnce.Do(func() {
		l.mu.Lock()
		l.closed = true
		l.mu.Unlock()
		close(l.stop)
		<-l.exited
		close(l.millCh)
		<-l.milled
	})
	return l.closeErr
}

// Stats returns the counters.
func (l *Logger) Stats() Stats {
	if l == nil {
		return Stats{}
	}
	return Stats{
		Written: l.written.Load(), Dropped: l.dropped.Load(), Suppressed: l.rep.suppressedTotal(),
		Lost: l.lost.Load(), Invalid: l.invalid.Load(), WriteErrors: l.writeErrors.Load(),
		BackupErrors: l.backupErrors.Load(), MirrorErrors: l.mirrorErrors.Load(),
		Rotations: l.rotations.Load(), Queued: len(l.queue),
	}
}

// run is the drain goroutine.
func (l *Logger) run() {
	defer close(l.exited)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case it := <-l.queue:
			evs, flushes := l.collect(it)
			l.write(evs, flushes, false)
		case <-tick.C:
			if evs := l.own(false); len(evs) > 0 {
				l.write(evs, nil, false)
			}
		case <-l.stop:
			l.finish()
			return
		}
	}
}

// collect takes first and whatever else is queued, up to batchMax events, then
// the Logger's own events (summaries, the drop count).
func (l *Logger) collect(first item) ([]Event, []chan error) {
	var evs []Event
	var flushes []chan error
	add := func(it item) {
		if it.flush != nil {
			flushes = append(flushes, it.flush)
		} else {
			evs = append(evs, it.ev)
		}
	}
	add(first)
	for len(evs) < batchMax {
		select {
		case it := <-l.queue:
			add(it)
			continue
		default:
		}
		break
	}
	return append(evs, l.own(false)...), flushes
}

// own returns the Logger's own events due now: repeat summaries of finished
// seconds (of every second if all), then one EventsDropped if any were dropped.
func (l *Logger) own(all bool) []Event {
	now := l.cfg.Now()
	evs := l.rep.take(now, l.cfg.Node, all)
	if n := l.dropPending.Swap(0); n > 0 {
		evs = append(evs, Event{
			Time: now, Type: EventsDropped, Node: l.cfg.Node,
			Message: fmt.Sprintf("dropped %d events: the audit queue was full", n),
			Details: map[string]string{"dropped": itoa(n)},
		})
	}
	return evs
}

// write mirrors, encodes and writes evs, retrying with backoff until they are
// written or, once closing, until CloseTimeout after Close began. Then it
// answers flushes.
func (l *Logger) write(evs []Event, flushes []chan error, closing bool) {
	buf, ends := l.encBuf[:0], l.encEnds[:0]
	for _, ev := range evs {
		l.mirror(ev)
		var err error
		if buf, err = ev.AppendLine(buf); err != nil { // Log refused such events: a bug, counted
			l.invalid.Add(1)
			continue
		}
		ends = append(ends, len(buf))
	}
	lines, start := l.lines[:0], 0
	for _, e := range ends {
		lines = append(lines, buf[start:e])
		start = e
	}
	l.encBuf, l.encEnds, l.lines = buf, ends, lines
	if closing {
		l.closing()
	}
	pause := l.cfg.RetryMin
	var err error
	for {
		var n int
		n, err = l.w.writeLines(lines)
		l.written.Add(uint64(n))
		l.rotations.Store(l.w.rotations)
		lines = lines[n:]
		if err == nil {
			break
		}
		l.writeErrors.Add(1)
		if closing && time.Now().Add(pause).After(l.giveUpAt) {
			l.lost.Add(uint64(len(lines)))
			err = fmt.Errorf("audit: gave up on %d events after %s: %w", len(lines), l.cfg.CloseTimeout, err)
			break
		}
		t := time.NewTimer(pause)
		select {
		case <-t.C:
		case <-l.stopped(closing):
			t.Stop()
			closing = true
			l.closing()
		}
		pause = min(2*pause, l.cfg.RetryMax)
	}
	if err != nil && l.closeErr == nil {
		l.closeErr = err
	}
	for _, f := range flushes {
		f <- err
	}
}

func (l *Logger) closing() {
	if l.giveUpAt.IsZero() {
		l.giveUpAt = time.Now().Add(l.cfg.CloseTimeout)
	}
}

// stopped is the stop channel while running, and a nil channel (never ready)
// once closing, so a retry pause is cut short only once.
func (l *Logger) stopped(closing bool) <-chan struct{} {
	if closing {
		return nil
	}
	return l.stop
}

func (l *Logger) mirror(ev Event) {
	if l.cfg.Mirror == nil {
		return
	}
	defer func() {
		if recover() != nil {
			l.mirrorErrors.Add(1)
		}
	}()
	if err := l.cfg.Mirror(ev); err != nil {
		l.mirrorErrors.Add(1)
	}
}

// finish drains the queue after Close, writes the last summaries and closes
// the file.
func (l *Logger) finish() {
	var evs []Event
	var flushes []chan error
	for {
		select {
		case it := <-l.queue:
			if it.flush != nil {
				flushes = append(flushes, it.flush)
			} else {
				evs = append(evs, it.ev)
			}
			continue
		default:
		}
		break
	}
	evs = append(evs, l.own(true)...)
	l.write(evs, flushes, true)
	if err := l.w.close(); err != nil && l.closeErr == nil {
		l.writeErrors.Add(1)
		l.closeErr = fmt.Errorf("audit: close %s: %w", l.cfg.Path, err)
	}
}

func (l *Logger) kickMill() {
	select {
	case l.millCh <- struct{}{}:
	default:
	}
}

// runMill compresses and prunes backups after each rotation, off the drain
// goroutine so a large compression never stalls writing.
func (l *Logger) runMill() {
	defer close(l.milled)
	for range l.millCh {
		if err := mill(l.cfg.Path, l.cfg.MaxBackups, l.cfg.Compress); err != nil {
			l.backupErrors.Add(1)
		}
	}
}
