import ArgumentParser

/// The `stele` command line.
@main
struct SteleCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stele",
        abstract: "Stele: an event store and event streaming platform that keeps events forever.",
        subcommands: [ServeCommand.self, TopicsCommand.self, MirrorCommand.self, CdcCommand.self, GroupsCommand.self, LogCommand.self, UsersCommand.self, AclsCommand.self, TokensCommand.self, ViewsCommand.self, ProcessorsCommand.self, DemoCommand.self, BenchCommand.self]
    )
}
