package app

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	goredis "github.com/redis/go-redis/v9"

	"github.com/minato-city/anpi/alert"
	"github.com/minato-city/anpi/alert/line"
	"github.com/minato-city/anpi/alert/signage"
	"github.com/minato-city/anpi/alert/sms"
	"github.com/minato-city/anpi/alert/template"
	"github.com/minato-city/anpi/alert/voice"
	templates "github.com/minato-city/anpi/configs/templates"
	console "github.com/minato-city/anpi/ops-console"
	"github.com/minato-city/anpi/residents"
	"github.com/minato-city/anpi/routing"
	"github.com/minato-city/anpi/routing/roads"
	"github.com/minato-city/anpi/safety"
	"github.com/minato-city/anpi/safety/classify"
	"github.com/minato-city/anpi/sandbox"
	"github.com/minato-city/anpi/store"
	"github.com/minato-city/anpi/store/bolt"
	storeredis "github.com/minato-city/anpi/store/redis"
	"github.com/minato-city/anpi/store/repo"
)

// App is a running anpi: its parts, built from a Config.
type App struct {
	Cfg        Config
	Log        *slog.Logger
	Backend    store.Backend
	Bus        store.Bus
	Sandbox    *sandbox.Server
	Residents  *residents.Directory
	Alerts     *alert.Service
	Dispatcher *alert.Dispatcher
	Signage    *signage.Service
	Safety     *safety.Service
	Links      *safety.Links
	Facilities *routing.Service
	Commuters  *routing.Commuters // nil without station data
	Classifier safety.Classifier
	Auth       *console.Auth
	Hub        *console.Hub
	Registry   *prometheus.Registry
	Handler    http.Handler

	metrics *metrics
	lineOut lineReplier // LINE replies to location messages and hold buttons (linelocation.go)
	pub     *busPublisher
	closers []func(context.Context) error
}

// OpenStore opens the storage engine and bus the configuration selects.
func OpenStore(ctx context.Context, cfg Config) (store.Backend, store.Bus, error) {
	switch cfg.Store {
	case "redis":
		opt, err := goredis.ParseURL(cfg.Redis.URL)
		if err != nil {
			// The parser's message may quote the URL, password included.
			return nil, nil, errors.New("store: redis.url is not a valid Redis URL")
		}
		if opt.PoolSize == 0 {
			// Workers and reply consumers each hold a connection while they
			// block on a stream read; go-redis' default (10 per CPU) would
			// leave webhooks and ledger writes queueing for a connection.
			opt.PoolSize = 256
		}
		c := goredis.NewClient(opt)
		if err := c.Ping(ctx).Err(); err != nil {
			c.Close()
			return nil, nil, fmt.Errorf("store: redis at %s: %w", opt.Addr, err)
		}
		return ownedBackend{storeredis.New(c, cfg.Redis.Prefix), c.Close}, storeredis.NewBus(c, cfg.Redis.Prefix), nil
	default:
		db, err := bolt.Open(filepath.Join(cfg.DataDir, "anpi.db"))
		if err != nil {
			return nil, nil, fmt.Errorf("store: %w", err)
		}
		return db, store.NewMemoryBus(), nil
	}
}

// ownedBackend closes the client it was built on after the backend.
type ownedBackend struct {
	store.Backend
	closeClient func() error
}

// Close implements store.Backend.
func (o ownedBackend) Close() error { return errors.Join(o.Backend.Close(), o.closeClient()) }

// New builds the whole system from cfg. Close releases what it opened.
func New(ctx context.Context, cfg Config, log *slog.Logger) (*App, error) {
	a := &App{Cfg: cfg, Log: log, Registry: prometheus.NewRegistry()}
	a.Registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	a.metrics = newMetrics(a.Registry)
	ok := false
	defer func() {
		if !ok {
			_ = a.Close(context.Background())
		}
	}()
	b, bus, err := OpenStore(ctx, cfg)
	if err != nil {
		return nil, err
	}
	a.Backend, a.Bus = b, bus
	a.closers = append(a.closers, func(context.Context) error { return b.Close() }, func(context.Context) error { return bus.Close() })

	if cfg.Sandbox {
		if err := a.startSandbox(); err != nil {
			return nil, err
		}
	}
	a.pub = &busPublisher{bus: bus, log: log}

	a.Residents = residents.NewDirectory(repo.Residents{B: b})
	senders, vocab, err := a.buildSenders()
	if err != nil {
		return nil, err
	}
	// Signage screens: a channel whose recipients are the configured screens.
	sigReg, err := signage.NewRegistry(cfg.Signage.Screens, cfg.Secrets.SignageTokens, cfg.Sandbox)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	a.Signage, err = signage.New(signage.Options{
		Registry: sigReg, Store: repo.Signage{B: b}, Alerts: repo.Alerts{B: b}, Bus: bus,
		Rotate: time.Duration(cfg.Signage.Rotate), Heartbeat: time.Duration(cfg.Signage.Heartbeat),
		SecureCookie: strings.HasPrefix(cfg.PublicURL, "https://"), Log: log,
	})
	if err != nil {
		return nil, err
	}
	if a.Signage.Enabled() {
		senders = append(senders, a.Signage)
		vocab.Channels = append(vocab.Channels, alert.ChannelSignage)
	}
	tpls, err := loadTemplates(cfg.Alerts.TemplatesDir)
	if err != nil {
		return nil, err
	}
	// The watcher withdraws cancelled alerts from the screens.
	a.Alerts = alert.NewService(repo.Alerts{B: b}, a.Signage.Watch(a.pub), alert.Config{
		DefaultExpiry: time.Duration(cfg.Alerts.DefaultExpiry), Vocabulary: vocab,
		Templates: tpls, TextRules: template.Rules{SMSWarnSegments: cfg.Alerts.SMSWarnSegments},
	}, log)
	secret, err := linkSecret(ctx, b)
	if err != nil {
		return nil, err
	}
	a.Links = safety.NewLinks(secret, cfg.PublicURL, 72*time.Hour)
	a.Dispatcher = alert.NewDispatcher(a.Alerts, a.Residents, a.Links, senders, alert.DispatcherConfig{
		Limits: map[string]alert.Limits{
			alert.ChannelLINE:  {RPS: cfg.LINE.MulticastRPS, Workers: cfg.LINE.Workers},
			alert.ChannelSMS:   {RPS: cfg.SMS.RPS, Workers: cfg.SMS.Workers},
			alert.ChannelVoice: {RPS: cfg.Voice.RPS, Workers: cfg.Voice.Workers},
		},
		Instance:        instanceName(cfg),
		ConfirmInstance: cfg.Store == "redis", // see instanceGuard
		AttemptTimeout:  time.Duration(cfg.Alerts.AttemptTimeout),
		MinBackoff:      time.Duration(cfg.Alerts.MinBackoff),
		MaxBackoff:      time.Duration(cfg.Alerts.MaxBackoff),
	})
	if a.Signage.Enabled() {
		a.Dispatcher.SetEndpoints(alert.ChannelSignage, a.Signage)
		a.Alerts.SetEndpoints(alert.ChannelSignage, a.Signage) // counted in previews
	}
	cls, err := a.buildClassifier()
	if err != nil {
		return nil, err
	}
	a.Classifier = cls
	a.Safety = safety.NewService(repo.Safety{B: b}, a.Alerts, a.Residents, cls, a.pub, log)

	if err := a.buildFacilities(ctx); err != nil {
		return nil, err
	}
	if err := a.buildCommuters(); err != nil {
		return nil, err
	}
	a.Auth = console.NewAuth(b, cfg.Secrets.AdminToken, strings.HasPrefix(cfg.PublicURL, "https://"), log)
	if err := a.Auth.Bootstrap(ctx); err != nil {
		return nil, err
	}
	if err := a.seedDemo(ctx); err != nil {
		return nil, err
	}
	a.Hub = console.NewHub(console.HubOptions{
		Snapshot:       a.snapshot,
		Authorize:      a.authorizeWS,
		AllowedOrigins: []string{strings.TrimRight(cfg.PublicURL, "/")},
		Logger:         log,
	})
	a.metrics.hub(a.Hub)
	a.Handler = a.routes()
	ok = true
	return a, nil
}

func (a *App) startSandbox() error {
	cfg := a.Cfg
	// The simulators enforce the same limits the engine paces itself to, as
	// the real providers would; 0 (unlimited) lifts them.
	limit := func(rps float64) float64 {
		if rps <= 0 {
			return -1
		}
		return rps
	}
	sb, err := sandbox.Start(sandbox.Config{
		LINE: sandbox.LINEConfig{AccessToken: cfg.Secrets.LINEChannelAccessToken, MulticastRPS: limit(cfg.LINE.MulticastRPS)},
		Twilio: sandbox.TwilioConfig{
			AccountSID: cfg.Secrets.TwilioAccountSID, AuthToken: cfg.Secrets.TwilioAuthToken,
			MessagesPerSecond: limit(cfg.SMS.RPS), CallsPerSecond: limit(cfg.Voice.RPS), Logger: a.Log,
		},
		OpenAI: sandbox.OpenAIConfig{APIKey: cfg.Secrets.OpenAIAPIKey},
		Logger: a.Log,
	})
	if err != nil {
		return err
	}
	a.Sandbox = sb
	a.closers = append(a.closers, sb.Close)
	a.Cfg.LINE.Endpoint = sb.URL
	a.Cfg.SMS.BaseURL = sb.URL
	a.Cfg.Voice.BaseURL = sb.URL
	a.Cfg.OpenAI.BaseURL = sb.URL + "/v1"
	a.Log.Info("sandbox providers running in-process", "url", sb.URL)
	return nil
}

func (a *App) buildSenders() ([]alert.Sender, alert.Vocabulary, error) {
	cfg := a.Cfg
	var senders []alert.Sender
	var errs []error
	vocab := alert.Vocabulary{Areas: residents.Areas, Languages: residents.Languages}
	if cfg.LINE.Enabled {
		s, err := line.New(line.Config{Endpoint: cfg.LINE.Endpoint, AccessToken: cfg.Secrets.LINEChannelAccessToken})
		errs = append(errs, err)
		if err == nil {
			senders = append(senders, s)
		}
	}
	statusURL := strings.TrimRight(cfg.PublicURL, "/") + "/webhooks/twilio/status"
	// One Twilio request may take the attempt timeout, at most the client's
	// own default: a request cut off after it took effect is sent again.
	twilioTimeout := min(time.Duration(cfg.Alerts.AttemptTimeout), sms.DefaultTimeout)
	if cfg.SMS.Enabled {
		s, err := sms.New(sms.Config{
			AccountSID: cfg.Secrets.TwilioAccountSID, AuthToken: cfg.Secrets.TwilioAuthToken, From: cfg.SMS.From,
			BaseURL: cfg.SMS.BaseURL, StatusCallbackURL: statusURL, Timeout: twilioTimeout,
		})
		errs = append(errs, err)
		if err == nil {
			senders = append(senders, s)
		}
	}
	if cfg.Voice.Enabled {
		s, err := voice.New(voice.Config{Config: sms.Config{
			AccountSID: cfg.Secrets.TwilioAccountSID, AuthToken: cfg.Secrets.TwilioAuthToken, From: cfg.Voice.From,
			BaseURL: cfg.Voice.BaseURL, Timeout: twilioTimeout,
		}, TwiMLURL: strings.TrimRight(cfg.PublicURL, "/") + voicePath})
		errs = append(errs, err)
		if err == nil {
			senders = append(senders, s)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, vocab, fmt.Errorf("channels: %w", err)
	}
	for _, s := range senders {
		vocab.Channels = append(vocab.Channels, s.Channel())
	}
	return senders, vocab, nil
}

func (a *App) buildClassifier() (safety.Classifier, error) {
	var llm classify.Classifier
	if a.Cfg.OpenAI.Enabled {
		l, err := classify.NewLLM(classify.LLMConfig{
			BaseURL: a.Cfg.OpenAI.BaseURL, APIKey: a.Cfg.Secrets.OpenAIAPIKey, Model: a.Cfg.OpenAI.Model,
			Timeout: time.Duration(a.Cfg.OpenAI.Timeout), Logger: a.Log,
		})
		if err != nil {
			return nil, fmt.Errorf("classifier: %w", err)
		}
		llm = l
	}
	return classify.NewEnsemble(classify.Rules{}, llm, a.Log), nil
}

func (a *App) buildFacilities(ctx context.Context) error {
	cfg := a.Cfg.Facilities
	var opts routing.Options
	if cfg.Boundary != "" {
		f, err := os.Open(cfg.Boundary)
		if err != nil {
			return fmt.Errorf("facilities.boundary: %w", err)
		}
		bd, err := routing.LoadBoundary(f)
		f.Close()
		if err != nil {
			return fmt.Errorf("facilities.boundary: %w", err)
		}
		opts.Boundary = bd
	}
	if path := a.Cfg.Routing.RoadGraph; path != "" {
		t0 := time.Now()
		g, err := roads.Load(path)
		if err != nil {
			return fmt.Errorf("routing.road_graph: %w", err)
		}
		opts.Roads = g
		a.Log.Info("road graph loaded", "path", path, "nodes", g.Nodes(), "edges", g.Edges(),
			"ways", g.Ways(), "components", g.Components(), "took", time.Since(t0).Round(time.Millisecond))
	}
	svc, err := routing.New(repo.Facilities{B: a.Backend}, a.pub, opts)
	if err != nil {
		return err
	}
	a.Facilities = svc
	if cfg.Shelters == "" {
		return nil
	}
	f, err := os.Open(cfg.Shelters)
	if err != nil {
		return fmt.Errorf("facilities.shelters: %w", err)
	}
	defer f.Close()
	fs, err := routing.LoadGSI(f, routing.KindShelter, cfg.DefaultCapacity, cfg.DefaultStatus)
	if err != nil {
		return fmt.Errorf("facilities.shelters: %w", err)
	}
	return svc.Seed(ctx, fs)
}

// buildCommuters sets up commuter reports and the HQ planning view over the
// stations file next to the shelters file (minato_stations.csv); without it
// the commuter endpoints are not served.
func (a *App) buildCommuters() error {
	cfg := a.Cfg.Facilities
	if cfg.Shelters == "" {
		return nil
	}
	path := filepath.Join(filepath.Dir(cfg.Shelters), "minato_stations.csv")
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		a.Log.Info("no station data: commuter planning off", "path", path)
		return nil
	}
	if err != nil {
		return fmt.Errorf("stations: %w", err)
	}
	stations, err := routing.LoadStations(f)
	f.Close()
	if err != nil {
		return err
	}
	opts := routing.CommuterOptions{Stations: stations}
	if cfg.Boundary != "" {
		bf, err := os.Open(cfg.Boundary)
		if err != nil {
			return fmt.Errorf("facilities.boundary: %w", err)
		}
		opts.Boundary, err = routing.LoadBoundary(bf)
		bf.Close()
		if err != nil {
			return fmt.Errorf("facilities.boundary: %w", err)
		}
	}
	a.Commuters, err = routing.NewCommuters(repo.Commuters{B: a.Backend}, a.Facilities, opts)
	return err
}

// seedDemo loads the demo residents into an empty directory.
func (a *App) seedDemo(ctx context.Context) error {
	if a.Cfg.Demo.Residents == "" {
		return nil
	}
	n, err := a.Residents.Count(ctx)
	if err != nil || n > 0 {
		return err
	}
	f, err := os.Open(a.Cfg.Demo.Residents)
	if err != nil {
		return fmt.Errorf("demo.residents: %w", err)
	}
	defer f.Close()
	var rs []residents.Resident
	err = residents.ReadCSV(f, func(_ int, r residents.Resident) error {
		rs = append(rs, r)
		return nil
	}, func(e residents.RowError) { a.Log.Warn("demo resident skipped", "line", e.Row, "reason", e.Reason) })
	if err != nil {
		return fmt.Errorf("demo.residents: %w", err)
	}
	if _, err := a.Residents.Put(ctx, rs); err != nil {
		return fmt.Errorf("demo.residents: %w", err)
	}
	a.Log.Info("demo residents loaded", "count", len(rs))
	return nil
}

// linkSecret returns the key that signs reply links, made on first start and
// shared by every instance through the store.
func linkSecret(ctx context.Context, b store.Backend) ([]byte, error) {
	buf := make([]byte, 32)
	if _, err := rand.Read(buf); err != nil {
		return nil, err
	}
	var secret []byte
	if err := b.Update(ctx, "settings", "link_secret", func(old []byte) ([]byte, error) {
		secret = buf
		if old != nil {
			secret = old
		}
		return secret, nil
	}); err != nil {
		return nil, fmt.Errorf("link secret: %w", err)
	}
	return secret, nil
}

func (a *App) authorizeWS(r *http.Request) ([]string, error) {
	if _, err := a.Auth.Authenticate(r, true); err != nil {
		return nil, err
	}
	return []string{"alerts", "safety", "triage", "facilities", "feed"}, nil
}

// snapshot is the console's state on connect.
func (a *App) snapshot(ctx context.Context, topics []string) (map[string]any, error) {
	out := map[string]any{}
	for _, t := range topics {
		m := map[string]any{}
		switch t {
		case "alerts":
			vs, err := a.Alerts.List(ctx, 200)
			if err != nil {
				return nil, err
			}
			for _, v := range vs {
				m[v.ID] = v
			}
		case "safety":
			vs, err := a.Safety.List(ctx)
			if err != nil {
				return nil, err
			}
			for _, v := range vs {
				m[v.ID] = v
			}
		case "triage":
			ts, err := a.Safety.Triage(ctx, "")
			if err != nil {
				return nil, err
			}
			for _, t := range ts {
				if t.State != safety.TriageResolved {
					m[t.ID] = t
				}
			}
		case "facilities":
			for _, f := range a.Facilities.List() {
				m[f.ID] = f
			}
		}
		out[t] = m
	}
	return out, nil
}

// Run serves HTTP on the configured address and runs the workers until ctx
// is done, then shuts down in reverse order of start-up.
func (a *App) Run(ctx context.Context) error {
	ln, err := net.Listen("tcp", a.Cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	return a.Serve(ctx, ln)
}

// Serve is Run on a given listener.
func (a *App) Serve(ctx context.Context, ln net.Listener) error {
	workCtx, stopWork := context.WithCancel(context.WithoutCancel(ctx))
	defer stopWork()
	var wg sync.WaitGroup
	start := func(f func()) {
		wg.Add(1)
		go func() { defer wg.Done(); f() }()
	}
	hubCtx, stopHub := context.WithCancel(context.WithoutCancel(ctx))
	defer stopHub()
	start(func() { a.Hub.Run(hubCtx) })
	sub, unsub, err := a.Bus.Subscribe(workCtx, consoleTopic)
	if err != nil {
		return fmt.Errorf("bus: %w", err)
	}
	start(func() { a.forward(sub) })
	start(func() { _ = a.Dispatcher.Run(workCtx) })
	// On Redis, the dispatcher sends at once but takes over what an earlier
	// run of this instance left only once no live process is found to share
	// its name (see instanceGuard).
	start(func() {
		if g := a.guardInstance(workCtx); g != nil {
			a.Dispatcher.InstanceConfirmed(workCtx)
			g.keep(workCtx, a.Log.Error)
		}
	})
	// Corrections a crash left unsent (see alert.Correction).
	start(func() {
		if err := a.Alerts.ResumeCorrections(workCtx); err != nil {
			a.Log.Error("resume corrections", "err", err)
		}
	})
	// Keeps this instance's signage streams up to date.
	start(func() { a.Signage.Run(workCtx) })
	consumer := alert.NewID("c_")
	start(func() { a.Safety.Run(workCtx, consumer) })
	// Safety-check reminders, escalation to non-responders, and deadlines.
	start(func() { a.Safety.RunReminders(workCtx, 15*time.Second) })
	// Expired facility holds free their places; other instances' changes
	// reach this instance's nearest-facility index.
	start(func() {
		a.Facilities.SweepEvery(workCtx, 30*time.Second, func(err error) { a.Log.Warn("facility sweep", "err", err) })
	})

	srv := &http.Server{Handler: a.Handler, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second, IdleTimeout: 2 * time.Minute}
	// Signage event streams never end by themselves; Shutdown waits for them.
	srv.RegisterOnShutdown(a.Signage.Shutdown)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	a.Log.Info("anpi serving", "addr", ln.Addr().String(), "store", a.Cfg.Store, "sandbox", a.Cfg.Sandbox, "console", strings.TrimRight(a.Cfg.PublicURL, "/")+"/console")

	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-errc:
	}
	a.Log.Info("shutting down")
	shutCtx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	// Stop taking requests, tell WebSocket clients, stop the workers (their
	// unfinished batches stay claimed in the durable queue), then the bus.
	err = srv.Shutdown(shutCtx)
	_ = a.Hub.Close(shutCtx)
	stopHub()
	stopWork()
	unsub()
	wg.Wait()
	if serveErr != nil && !errors.Is(serveErr, http.ErrServerClosed) {
		return serveErr
	}
	return err
}

// Close releases the store, bus and sandbox, in reverse order of opening.
func (a *App) Close(ctx context.Context) error {
	var errs []error
	for i := len(a.closers) - 1; i >= 0; i-- {
		errs = append(errs, a.closers[i](ctx))
	}
	a.closers = nil
	return errors.Join(errs...)
}

// consoleTopic is the bus topic carrying console deltas between instances.
const consoleTopic = "console"

// busPublisher sends domain changes over the bus so that every instance's
// hub gets them.
type busPublisher struct {
	bus store.Bus
	log *slog.Logger
}

type busEvent struct {
	Topic string          `json:"t"`
	Key   string          `json:"k"`
	Value json.RawMessage `json:"v"`
}

// Publish implements the domain packages' Publisher interfaces.
func (p *busPublisher) Publish(topic, key string, v any) {
	val, err := json.Marshal(v)
	if err != nil {
		p.log.Error("publish encode", "topic", topic, "err", err)
		return
	}
	data, _ := json.Marshal(busEvent{Topic: topic, Key: key, Value: val})
	if err := p.bus.Publish(context.Background(), consoleTopic, data); err != nil {
		p.log.Warn("publish", "topic", topic, "err", err)
	}
}

// PublishMany sends several changes of one topic as one bus message (a JSON
// array of events): the reply consumer's triage items of a page.
func (p *busPublisher) PublishMany(topic string, keys []string, vs []any) {
	evs := make([]busEvent, 0, len(vs))
	for i, v := range vs {
		val, err := json.Marshal(v)
		if err != nil {
			p.log.Error("publish encode", "topic", topic, "err", err)
			continue
		}
		evs = append(evs, busEvent{Topic: topic, Key: keys[i], Value: val})
	}
	if len(evs) == 0 {
		return
	}
	data, _ := json.Marshal(evs)
	if err := p.bus.Publish(context.Background(), consoleTopic, data); err != nil {
		p.log.Warn("publish", "topic", topic, "err", err)
	}
}

func (a *App) forward(sub <-chan []byte) {
	for data := range sub {
		if len(data) > 0 && data[0] == '[' {
			var evs []busEvent
			if err := json.Unmarshal(data, &evs); err != nil {
				continue
			}
			for _, e := range evs {
				a.Hub.Publish(e.Topic, e.Key, e.Value)
			}
			continue
		}
		var e busEvent
		if err := json.Unmarshal(data, &e); err != nil {
			continue
		}
		a.Hub.Publish(e.Topic, e.Key, e.Value)
	}
}

// loadTemplates loads the alert templates from dir, or the built-in ones
// when dir is empty. Errors name the key, the file and the template key.
func loadTemplates(dir string) (*template.Set, error) {
	if dir == "" {
		s, err := template.Load(templates.FS)
		if err != nil {
			return nil, fmt.Errorf("built-in alert templates: %w", err)
		}
		return s, nil
	}
	s, err := template.LoadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("config: alerts.templates_dir: %w", err)
	}
	return s, nil
}

// instanceName names this process stably across restarts: the embedded
// store is opened by one process at a time, so any lease found in it at
// start belongs to a dead earlier run; on Redis, host name and listen
// address identify an instance. Two live processes on one Redis must not
// share both (e.g. replicas given the same host name in separate network
// namespaces): each would take the other's batches for those of a dead
// earlier run of itself when it starts, and send them again. instanceGuard
// catches that mistake (and the README warns of it).
func instanceName(cfg Config) string {
	if cfg.Store != "redis" {
		return "embedded"
	}
	host, err := os.Hostname()
	if err != nil || host == "" {
		return ""
	}
	return host + "/" + cfg.Listen
}
