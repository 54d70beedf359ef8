# anpi — make run starts everything locally; make test runs every test.
GO ?= go
BIN := bin/anpi
VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)

.PHONY: run test bench lint build eval clean

build:
	$(GO) build -ldflags "-X main.version=$(VERSION)" -o $(BIN) ./cmd/anpi

run:
	$(GO) run -ldflags "-X main.version=$(VERSION)" ./cmd/anpi serve --config configs/anpi.yaml

test:
	$(GO) test -race -timeout 15m ./...

bench:
	$(GO) test -run '^$$' -bench . -benchmem -benchtime 2s ./... | tee bench.out

lint:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || (gofmt -l $$(git ls-files '*.go'); exit 1)
	$(GO) vet ./...

eval:
	$(GO) run ./cmd/anpi classify --eval safety/classify/testdata/devset.jsonl
	$(GO) run ./cmd/anpi classify --eval safety/classify/testdata/devset2.jsonl
	$(GO) run ./cmd/anpi classify --eval safety/classify/testdata/holdout2.jsonl

clean:
	rm -rf bin bench.out
