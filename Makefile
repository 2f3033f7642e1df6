# tlsentry: the two commands a newcomer needs are `make sample` and `make test`.

GO ?= go
SAMPLE ?= testdata/tls12-ecdsa.pcap

.PHONY: sample test deps build bench

build: deps
	$(GO) build -o tlsentry ./cmd/tlsentry

# Replays a capture the repository generates itself and prints its ECS documents.
sample: deps
	$(GO) run ./cmd/tlsentry -r $(SAMPLE)

# Runs the whole test suite, with a real Elasticsearch started and stopped around it.
test:
	bash scripts/test.sh

deps:
	bash scripts/deps.sh

# Whole-process benchmark over a large generated capture.
bench: deps
	bash scripts/bench.sh
