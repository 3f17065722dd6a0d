"""Registry service: counties and their policy, providers (承接主体), stations (社工站),
social workers (社工) and service contracts (服务协议)."""
