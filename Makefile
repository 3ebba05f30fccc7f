# The two commands of the README.
#   make demo   set up everything and run gridkit on the demo data (SCALE=1)
#   make test   run every test suite
.PHONY: demo test bench stop

demo:
	SCALE=$(or $(SCALE),1) scripts/demo.sh

test:
	scripts/test.sh

bench:
	bench/run.sh

stop:
	scripts/server.sh stop
	scripts/cluster.sh stop demo
