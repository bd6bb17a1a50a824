# A Dockerfile breaking the rules dockerfile_lint.py checks: the lint must fail on it.
FROM debian
RUN apt-get update && apt-get install curl
RUN cd /src && make | tee log
ADD pgfunnel /usr/bin/pgfunnel
ENV PGFUNNEL_LISTEN_HTTP=0.0.0.0:9127
EXPOSE 6432
ENTRYPOINT /usr/bin/pgfunnel
