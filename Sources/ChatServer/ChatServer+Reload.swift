import ChatAuth
public import ChatConfig
import ChatCore
import Foundation
import Logging
import NIOCore
import Systemd

/// Reloads: SIGHUP and `chatctl reload` re-read the file and apply it, or keep the running
/// configuration and say why.
extension ChatServer {
    /// Re-reads the config file and applies it atomically, or keeps the old one and says why.
    /// Reloads are serialised; SIGHUP and `chatctl reload` both come here.
    public func reload() async -> ReloadOutcome {
        let loaded: Result<Config, ConfigError>
        do {
            loaded = .success(try ConfigLoader.load(path: options.configPath, environment: options.environment))
        } catch {
            loaded = .failure(error)
        }
        return await reload(to: loaded)
    }

    /// Applies `config` as a reload would (tests use this to skip the file).
    public func reload(to config: Result<Config, ConfigError>) async -> ReloadOutcome {
        await withCheckedContinuation { continuation in
            reloadQueue.async { [self] in
                continuation.resume(returning: applyReload(config))
            }
        }
    }

    private func applyReload(_ loaded: Result<Config, ConfigError>) -> ReloadOutcome {
        options.notify?(Systemd.reloadingMessage())
        defer { options.notify?("READY=1\n\(statusLine())") }
        let now = Date().timeIntervalSince1970
        let (old, generation) = state.withLockedValue { ($0.config, $0.generation) }
        let config: Config
        switch loaded {
        case let .failure(error):
            return fail(now: now, generation: generation, error: error.description)
        case let .success(c):
            // The loader has checked a file's config; one handed in otherwise is checked here,
            // because a value outside its range must never reach the running server.
            do {
                try ConfigLoader.validate(c, file: options.configPath ?? "(built-in defaults)")
            } catch {
                return fail(now: now, generation: generation, error: error.description)
            }
            config = c
        }
        let diff = ConfigDiff.between(old, config)
        // The page is part of the configuration: re-read it, and refuse the reload if it is gone.
        let site: StaticSite
        do {
            site = try StaticSite(root: config.server.webRoot ?? options.defaultWebRoot)
        } catch {
            return fail(now: now, generation: generation, error: "server.web_root: cannot read the page: \(error)")
        }
        // Restart-only settings keep their running values, so status and later diffs stay true.
        let effective = config.keepingRestartOnlyKeys(from: old)
        let settings: Settings
        do {
            settings = try Settings(effective)
        } catch {
            return fail(now: now, generation: generation, error: "auth.jwt.key_file: \(error)")
        }
        if settings.authenticator.hasPlainTokens {
            core.logger.warning(
                "auth.tokens/auth.moderator_tokens hold plain tokens: for development only; store SHA-256 hashes in [auth.credentials.NAME]"
            )
        }
        core.replaceSite(site)
        core.settings.replace(with: settings)
        core.hub.store?.setWebhookRoutes(settings.webhookRoutes)
        core.hub.webhookEvents?.routes.withLockedValue { $0 = settings.webhookRoutes }
        if old.history.window != config.history.window { core.hub.resizeHistory(to: config.history.window) }
        let revoked = core.hub.shards.reduce(0) { total, ref in
            total + ((try? ref.loop.submit { ref.shard.value.applyReload(settings) }.wait()) ?? 0)
        }
        let result = ReloadOutcome(
            ok: true, at: now, generation: generation + 1, error: nil,
            applied: diff.applied, needsRestart: diff.needsRestart, revoked: revoked)
        state.withLockedValue {
            $0.config = effective
            $0.generation += 1
            $0.lastReload = result
        }
        core.metrics.reloads("ok").increment()
        // Which of the applied keys reach the connections already open (`ConfigKey.Reload`).
        let toOpen = diff.applied.filter { ConfigKeys.named($0)?.reload == .openConnections }
        core.logger.notice(
            "configuration reloaded",
            metadata: [
                "generation": "\(result.generation)", "applied": "\(diff.applied.joined(separator: ","))",
                "applied_to_open_connections": "\(toOpen.joined(separator: ","))",
                "needs_restart": "\(diff.needsRestart.joined(separator: ","))", "revoked": "\(revoked)",
            ])
        for key in diff.needsRestart {
            core.logger.warning("\(key) changed; it takes effect when chatd restarts")
        }
        return result
    }

    private func fail(now: Double, generation: Int, error: String) -> ReloadOutcome {
        let result = ReloadOutcome(ok: false, at: now, generation: generation, error: error, applied: [], needsRestart: [], revoked: 0)
        state.withLockedValue { $0.lastReload = result }
        core.metrics.reloads("failed").increment()
        core.logger.error("reload failed, keeping the running configuration: \(error)")
        return result
    }
}
