"""Development tools: the Sirius stub and its signature verifier, synthetic data, the
CloudWatch and S3 stand-ins (moto), and `perfdata demo`.

Used by the CLI's dev commands, the bench and the tests; production code never
imports them (an import contract in pyproject.toml says so, and `make test` checks it).
"""
