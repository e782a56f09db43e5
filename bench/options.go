package main

import (
	"errors"
	"flag"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// options is the harness's command line.
type options struct {
	scenarios []string
	duration  time.Duration
	warmup    time.Duration
	clients   int
	// rounds is how many closed-loop runs each policy scenario gets,
	// shipgate and the OPA server alternated.
	rounds int
	// rates are the open-loop rates, requests per second; a rate of 0
	// stands for "auto": half of what shipgate sustained closed-loop on
	// the same scenario just before, a rate both targets should keep up
	// with, so their latencies compare without a queue.
	rates []float64
	peers bool
	http1 bool

	mixedPods     int
	coldPool      int
	coldClients   int
	cosignImages  int
	memoryDigests int

	shipgateBin string
	opaBin      string
	cosignBin   string
	cacheDir    string
	out         string
	logLevel    string
	debugAddr   string
	keep        bool
}

func parseOptions(args []string) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	scen := fs.String("scenarios", "pod-warm,rollout,mixed,cold", "scenarios to run, comma-separated: "+strings.Join(allScenarios, ", "))
	fs.DurationVar(&o.duration, "duration", 4*time.Second, "measured time of each run")
	fs.DurationVar(&o.warmup, "warmup", time.Second, "unmeasured time before each run")
	fs.IntVar(&o.clients, "clients", 32, "closed-loop concurrent clients")
	fs.IntVar(&o.rounds, "rounds", 3, "closed-loop runs of each policy scenario, shipgate and the OPA server alternated, so a change in the machine's load falls on both; ratios and targets take the median round")
	rate := fs.String("rate", "1000,auto", `open-loop rates, requests per second, comma-separated; "auto" is half of shipgate's closed-loop throughput on the scenario; "" runs no open loop`)
	fs.BoolVar(&o.peers, "peers", true, "run the OPA server and the cosign CLI beside shipgate")
	fs.BoolVar(&o.http1, "http1", false, "speak HTTP/1.1 (one connection per client) instead of HTTP/2")
	fs.IntVar(&o.mixedPods, "mixed-pods", 3, "Pods per rollout in the mixed scenario")
	fs.IntVar(&o.coldPool, "cold-pool", 1000, "never-seen images pushed for the cold scenario, half for its durable run, half for its dry run (each stops early when its half runs out)")
	fs.IntVar(&o.coldClients, "cold-clients", 1, "closed-loop clients of the cold scenario")
	fs.IntVar(&o.cosignImages, "cosign-images", 8, "images the cosign CLI verifies for the cold comparison")
	fs.IntVar(&o.memoryDigests, "memory-digests", 100000, "distinct digests the memory scenario verifies")
	fs.StringVar(&o.shipgateBin, "shipgate", "", "shipgate binary (default: built from this tree into the cache)")
	fs.StringVar(&o.opaBin, "opa", "", "opa binary (default: built once from the module version go.mod requires)")
	fs.StringVar(&o.cosignBin, "cosign", "", "cosign binary (default: $SHIPGATE_COSIGN, else $(go env GOPATH)/bin/cosign when it is the go.mod version, else built once)")
	fs.StringVar(&o.cacheDir, "cache", "", "where built binaries go (default: bench/.cache, ignored by git)")
	fs.StringVar(&o.out, "o", "", "JSON results file (default: bench/.cache/results.json)")
	fs.StringVar(&o.logLevel, "log-level", "info", "log level of shipgate and OPA (info is their default in production)")
	fs.StringVar(&o.debugAddr, "debug-addr", "", "loopback address where shipgate serves Go's profiles (its --debug-addr), to profile it during a run")
	fs.BoolVar(&o.keep, "keep", false, "keep the temporary directory (logs, store, configs)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	for _, r := range strings.Split(*rate, ",") {
		switch r = strings.TrimSpace(r); r {
		case "":
		case "auto":
			o.rates = append(o.rates, 0)
		default:
			v, err := strconv.ParseFloat(r, 64)
			if err != nil || v <= 0 {
				return nil, fmt.Errorf("-rate: %q is neither a positive number nor auto", r)
			}
			o.rates = append(o.rates, v)
		}
	}
	for _, s := range strings.Split(*scen, ",") {
		if s = strings.TrimSpace(s); s != "" {
			o.scenarios = append(o.scenarios, s)
		}
	}
	return o, o.validate()
}

func (o *options) validate() error {
	var errs []error
	for _, s := range o.scenarios {
		if !slices.Contains(allScenarios, s) {
			errs = append(errs, fmt.Errorf("unknown scenario %q (known: %s)", s, strings.Join(allScenarios, ", ")))
		}
	}
	if len(o.scenarios) == 0 {
		errs = append(errs, errors.New("no scenario to run"))
	}
	if o.duration <= 0 || o.clients < 1 || o.coldClients < 1 || o.rounds < 1 || o.mixedPods < 0 {
		errs = append(errs, errors.New("-duration, -clients, -cold-clients and -rounds must be positive, -mixed-pods not negative"))
	}
	if o.coldPool < 1 || o.memoryDigests < 1 {
		errs = append(errs, errors.New("-cold-pool and -memory-digests must be positive"))
	}
	return errors.Join(errs...)
}

func (o *options) has(s string) bool { return slices.Contains(o.scenarios, s) }
