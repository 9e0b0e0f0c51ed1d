// Starts `cadenza lsp --stdio` for .play files. Everything the editor shows beyond colours
// (diagnostics, completion, definitions, formatting) comes from that server.
"use strict";

const vscode = require("vscode");
const { LanguageClient, TransportKind } = require("vscode-languageclient/node");

let client;

function serverCommand() {
  const config = vscode.workspace.getConfiguration("cadenza");
  const folder = vscode.workspace.workspaceFolders?.[0]?.uri.fsPath ?? "";
  // Settings may point into the project's own virtualenv.
  const command = config.get("server.command", "cadenza").replace("${workspaceFolder}", folder);
  return { command, args: config.get("server.args", ["lsp"]), transport: TransportKind.stdio };
}

async function activate(context) {
  const clientOptions = {
    documentSelector: [{ scheme: "file", language: "play" }],
    synchronize: {
      // Templates and other playbooks changing on disk (a git checkout) change diagnostics.
      fileEvents: vscode.workspace.createFileSystemWatcher("**/{*.play,*.liquid,cadenza.toml}"),
    },
  };
  client = new LanguageClient("cadenza", "Cadenza", serverCommand(), clientOptions);
  context.subscriptions.push(client);
  await client.start();
}

function deactivate() {
  return client ? client.stop() : undefined;
}

module.exports = { activate, deactivate };
