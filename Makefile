# The two commands of the README.
#   make demo   set up everything and run gridkit on the demo data (SCALE=1)
#   make test   run every test suite
# And for deployment (docs/DEPLOY.md):
#   make deb    the Debian package target/deb/gridkit_<version>_<arch>.deb
#   make image  the container image localhost/gridkit (podman), from that package
.PHONY: demo test bench stop deb image

demo:
	SCALE=$(or $(SCALE),1) scripts/demo.sh

test:
	scripts/test.sh

bench:
	bench/run.sh

stop:
	scripts/server.sh stop
	scripts/cluster.sh stop demo

deb:
	scripts/package.sh

image:
	scripts/image.sh
