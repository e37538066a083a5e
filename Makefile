# Developer tasks. `make help` lists them. CI (.ci/run) runs `make lint`,
# the README's test command (`make test`) and `make fuzz`.

GO        ?= go
TOOLS     ?= $(HOME)/.cache/r2gate-tools
FUZZTIME  ?= 30s
FUZZJOBS  ?= 2
# One integration test: make one RUN=TestReloadStorm PKG=./caddymodule/
RUN       ?= .
PKG       ?= ./...

STATICCHECK_VERSION = v0.8.2

.PHONY: help test race short one lint staticcheck fuzz bench

help:
	@echo "make test         every test, with the race detector (the README's test command)"
	@echo "make race         the same as test"
	@echo "make short        every test without the race detector (faster while editing)"
	@echo "make one RUN=<regexp> [PKG=./caddymodule/]   one test, with -race and -v"
	@echo "make lint         gofmt, go vet and staticcheck (installed into $(TOOLS))"
	@echo "make fuzz [FUZZTIME=30s] [FUZZJOBS=2]   every fuzz target for FUZZTIME each, FUZZJOBS at a time"
	@echo "make bench        the Go benchmarks, once each (bench/*.sh for the wrk comparisons)"

test race:
	$(GO) test -race -count=1 ./...

short:
	$(GO) test -count=1 ./...

one:
	$(GO) test -race -count=1 -v -run '$(RUN)' $(PKG)

lint: staticcheck
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt -l:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(TOOLS)/staticcheck ./...

staticcheck:
	@test -x $(TOOLS)/staticcheck || GOBIN=$(TOOLS) GOFLAGS= $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

# .ci/fuzz runs the targets FUZZJOBS at a time (go test -fuzz takes one
# target per package), each for FUZZTIME: a duration (30s) or a count of
# inputs (20000x), with nproc/FUZZJOBS workers. A duration-bounded run that
# Go 1.26's coordinator fails with a bare "context deadline exceeded" and
# no input written (golang/go#75804, fixed in Go 1.27) is run once more.
# The slow ones (caddymodule's: Caddy's init under coverage) come first.
FUZZ_TARGETS = \
	./caddymodule/:FuzzRangeSpans \
	./caddymodule/:FuzzMapKey \
	./caddymodule/:FuzzParsePurgeRequest \
	./caddymodule/:FuzzWebhookKeys \
	./caddymodule/:FuzzForwardedPurge \
	./auth/:FuzzExtractToken \
	./auth/:FuzzParseSignedURL \
	./auth/:FuzzSignTargetVerifies \
	./auth/:FuzzGrantOf \
	./auth/:FuzzCloudflareVerify \
	./auth/:FuzzJWTVerify \
	./auth/:FuzzParseJWKS \
	./cache/:FuzzParseCacheControl \
	./internal/r2event/:FuzzParseR2Events \
	./publish/:FuzzSyncListing \
	./resize/:FuzzParseQuery \
	./resize/:FuzzParseCloudflare \
	./resize/:FuzzDecode \
	./resize/:FuzzEXIF \
	./resize/:FuzzICC \
	./resize/:FuzzNegotiate \
	./resize/:FuzzVariantKey \
	./resize/:FuzzProcess \
	./resize/jpegdec/:FuzzDecode

fuzz:
	GO=$(GO) .ci/fuzz -t $(FUZZTIME) -j $(FUZZJOBS) $(FUZZ_TARGETS)

bench:
	$(GO) test -run '^$$' -bench . -benchtime 1x ./...
