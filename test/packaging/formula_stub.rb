# frozen_string_literal: true

# A stand-in for the part of Homebrew's Formula DSL that the generated regshape formula uses, so the
# formula can be checked where Homebrew cannot be installed (it comes from GitHub):
#
#   ruby -w formula_stub.rb FORMULA TARBALL_DIR [PLATFORM]
#
# It loads FORMULA, records what the DSL calls declare, and checks them: the required fields, a url
# and sha256 in every on_macos/on_linux x on_arm/on_intel block, and that each sha256 is the
# SHA-256 of the tarball of that name in TARBALL_DIR. With PLATFORM (for example linux-intel) it
# then does what brew would on that platform: unpacks that block's tarball, runs the formula's
# install into a temporary keg and runs its test block. Prints a JSON summary; exits 1 on the
# first failed check.

require "digest"
require "fileutils"
require "json"
require "open3"
require "pathname"
require "tmpdir"

def fail!(message)
  warn "formula check failed: #{message}"
  exit 1
end

# Homebrew's Pathname additions that an install block uses.
class Pathname
  def install(*sources)
    mkpath
    sources.flatten.each do |source|
      pairs = source.is_a?(Hash) ? source : { source => File.basename(source.to_s) }
      pairs.each do |from, name|
        fail!("install: #{from} does not exist") unless File.exist?(from.to_s) || File.symlink?(from.to_s)
        FileUtils.mv(from.to_s, (self / name).to_s)
      end
    end
  end

  def install_symlink(*targets)
    mkpath
    targets.flatten.each { |target| File.symlink(target.to_s, (self / File.basename(target.to_s)).to_s) }
  end
end

class Formula
  PLATFORM_BLOCKS = { on_macos: [:os, "macos"], on_linux: [:os, "linux"], on_arm: [:arch, "arm"], on_intel: [:arch, "intel"] }.freeze

  class << self
    attr_reader :fields, :platforms, :test_block, :dependencies

    def inherited(subclass)
      super
      subclass.instance_variable_set(:@fields, {})
      subclass.instance_variable_set(:@platforms, {})
      subclass.instance_variable_set(:@dependencies, [])
      subclass.instance_variable_set(:@context, {})
      (@subclasses ||= []) << subclass
    end

    def subclasses_loaded
      @subclasses || []
    end

    %i[desc homepage license version].each do |name|
      define_method(name) do |value = nil|
        return @fields[name] if value.nil?

        fail!("#{name} declared twice") if @fields.key?(name)
        @fields[name] = value
      end
    end

    def url(value, **_options)
      platform_entry(:url, value)
    end

    def sha256(value)
      platform_entry(:sha256, value)
    end

    def depends_on(*args)
      @dependencies << args
    end

    PLATFORM_BLOCKS.each do |name, (key, value)|
      define_method(name) do |&block|
        fail!("#{name} inside another #{key} block") if @context.key?(key)
        @context[key] = value
        block.call
        @context.delete(key)
      end
    end

    def test(&block)
      @test_block = block
    end

    private

    def platform_entry(field, value)
      platform = "#{@context.fetch(:os, 'any')}-#{@context.fetch(:arch, 'any')}"
      entry = (@platforms[platform] ||= {})
      fail!("#{field} declared twice for #{platform}") if entry.key?(field)
      entry[field] = value
    end
  end

  attr_reader :prefix

  def initialize(prefix)
    @prefix = Pathname(prefix)
  end

  def version = self.class.version
  def bin = prefix / "bin"
  def libexec = prefix / "libexec"
  def bash_completion = prefix / "etc/bash_completion.d"
  def zsh_completion = prefix / "share/zsh/site-functions"

  def shell_output(command, expected_status = 0)
    output, status = Open3.capture2(command)
    fail!("#{command} exited #{status.exitstatus}, expected #{expected_status}") unless status.exitstatus == expected_status
    output
  end

  def assert_match(expected, actual)
    matched = expected.is_a?(Regexp) ? expected.match?(actual) : actual.include?(expected)
    fail!("expected #{actual.inspect} to match #{expected.inspect}") unless matched
  end
end

formula_path, tarball_dir, platform = ARGV
fail!("usage: ruby formula_stub.rb FORMULA TARBALL_DIR [PLATFORM]") unless formula_path && tarball_dir

load File.expand_path(formula_path)
klass = Formula.subclasses_loaded.find { |candidate| candidate.name == "Regshape" }
fail!("the file defines no `class Regshape < Formula`") unless klass

fields = klass.fields
%i[desc homepage license version].each { |name| fail!("#{name} is missing") if fields[name].to_s.empty? }
desc = fields[:desc]
fail!("desc is longer than 79 characters") if desc.length > 79
fail!("desc ends with a period") if desc.end_with?(".")
fail!("desc starts with an article") if desc.match?(/\A(an?|the)\s/i)
fail!("desc starts with the formula name") if desc.downcase.start_with?("regshape")
fail!("homepage is not https") unless fields[:homepage].start_with?("https://")
fail!("test block is missing") unless klass.test_block
fail!("install is missing") unless klass.instance_methods(false).include?(:install)

known = %w[macos-arm macos-intel linux-arm linux-intel]
fail!("no url/sha256 in any platform block") if klass.platforms.empty?
klass.platforms.each do |name, entry|
  fail!("url/sha256 outside on_macos/on_linux + on_arm/on_intel (#{name})") unless known.include?(name)
  fail!("#{name}: url is missing") unless entry[:url]
  fail!("#{name}: sha256 is missing") unless entry[:sha256]
  fail!("#{name}: sha256 is not 64 hex digits") unless entry[:sha256].match?(/\A\h{64}\z/)
  fail!("#{name}: url is not https") unless entry[:url].start_with?("https://")
  fail!("#{name}: url does not name version #{fields[:version]}") unless File.basename(entry[:url]).include?(fields[:version])
  tarball = File.join(tarball_dir, File.basename(entry[:url]))
  fail!("#{name}: #{tarball} does not exist") unless File.file?(tarball)
  fail!("#{name}: sha256 does not match #{tarball}") unless Digest::SHA256.file(tarball).hexdigest == entry[:sha256]
end
urls = klass.platforms.values.map { |entry| entry[:url] }
fail!("two platforms share a url") unless urls.uniq.size == urls.size

summary = { "class" => klass.name, "fields" => fields.transform_keys(&:to_s), "platforms" => klass.platforms.transform_values { |entry| entry.transform_keys(&:to_s) } }

if platform
  entry = klass.platforms[platform] or fail!("no url for #{platform}")
  Dir.mktmpdir("regshape-brew-") do |work|
    stage = File.join(work, "stage")
    FileUtils.mkdir_p(stage)
    _, status = Open3.capture2e("tar", "-xzf", File.join(tarball_dir, File.basename(entry[:url])), "-C", stage)
    fail!("tar failed") unless status.success?
    # brew works inside the archive's only top-level directory
    tops = Dir.children(stage)
    source = tops.size == 1 && File.directory?(File.join(stage, tops[0])) ? File.join(stage, tops[0]) : stage
    formula = klass.new(File.join(work, "Cellar", "regshape", fields[:version]))
    Dir.chdir(source) { formula.install }
    installed = Dir.glob("**/*", File::FNM_DOTMATCH, base: formula.prefix.to_s)
                   .reject { |path| path.start_with?("libexec/") || File.basename(path).start_with?(".") }.sort
    formula.instance_eval(&klass.test_block)
    summary["installed"] = installed
    summary["test"] = "passed"
  end
end

puts JSON.generate(summary)
